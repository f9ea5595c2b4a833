//! A gRPC fuzzer driven by the served descriptor set: for every RPC it builds request bytes field by
//! field from the method's input type, with random, boundary and oversized values, deep nesting, invalid
//! UTF-8, U+0000 and control characters, and sends them as they are, past any client-side type.

use std::collections::HashMap;

use bytes::{Buf, BufMut};
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// One RPC: its path (`/hookline.v1.WebhookRegistry/CreateWebhook`) and input type.
#[derive(Debug, Clone)]
pub struct Rpc {
    pub path: String,
    pub input: String,
}

/// The message types and RPCs of a descriptor set.
pub struct Schema {
    messages: HashMap<String, DescriptorProto>,
    pub rpcs: Vec<Rpc>,
}

impl Schema {
    pub fn from_descriptor_set(encoded: &[u8]) -> Self {
        let set = FileDescriptorSet::decode(encoded).expect("the descriptor set decodes");
        let mut messages = HashMap::new();
        let mut rpcs = Vec::new();
        for file in &set.file {
            let package = file.package();
            for message in &file.message_type {
                collect(&format!(".{package}"), message, &mut messages);
            }
            for service in &file.service {
                for method in &service.method {
                    rpcs.push(Rpc {
                        path: format!("/{package}.{}/{}", service.name(), method.name()),
                        input: method.input_type().to_owned(),
                    });
                }
            }
        }
        Self { messages, rpcs }
    }
}

/// Registers `message` and its nested types under their full names (`.hookline.v1.Webhook`).
fn collect(scope: &str, message: &DescriptorProto, into: &mut HashMap<String, DescriptorProto>) {
    let name = format!("{scope}.{}", message.name());
    for nested in &message.nested_type {
        collect(&name, nested, into);
    }
    into.insert(name, message.clone());
}

/// Builds hostile requests from a seed, so a failure can be replayed.
pub struct Fuzzer<'a> {
    schema: &'a Schema,
    rng: StdRng,
    /// What the message being built may still grow by, in bytes (about: each field costs its value and
    /// a few bytes of framing), so nesting cannot multiply it without bound.
    budget: usize,
}

/// Bytes a message grows to at most (roughly: the field that crosses it is kept), so that oversized
/// values stay within what a test can send quickly, beside the server's 4 MiB limit.
const BUDGET: usize = 1 << 20;

/// How deep generated messages nest, beyond which fields of message type are left out.
const MAX_DEPTH: usize = 12;

impl<'a> Fuzzer<'a> {
    pub fn new(schema: &'a Schema, seed: u64) -> Self {
        Self {
            schema,
            rng: StdRng::seed_from_u64(seed),
            budget: 0,
        }
    }

    /// The bytes of one request of type `name`.
    pub fn message(&mut self, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.budget = BUDGET;
        self.encode_message(name, 0, &mut out);
        out
    }

    fn encode_message(&mut self, name: &str, depth: usize, out: &mut Vec<u8>) {
        let Some(message) = self.schema.messages.get(name).cloned() else {
            return;
        };
        for field in &message.field {
            if self.budget == 0 {
                break;
            }
            // Each field present about two times in three; repeated ones up to a few times, sometimes
            // hundreds.
            if !self.rng.random_bool(0.67) {
                continue;
            }
            let repeated = field.label() == prost_types::field_descriptor_proto::Label::Repeated;
            let count = match (repeated, self.rng.random_range(0..10)) {
                (false, _) => 1,
                (true, 0) => self.rng.random_range(100..300),
                (true, _) => self.rng.random_range(1..4),
            };
            for _ in 0..count {
                self.encode_field(field, depth, out);
            }
        }
    }

    fn encode_field(&mut self, field: &FieldDescriptorProto, depth: usize, out: &mut Vec<u8>) {
        let number = field.number() as u32;
        let before = out.len();
        match field.r#type() {
            Type::String => {
                encode_key(number, WireType::LengthDelimited, out);
                let text = self.text();
                encode_varint(text.len() as u64, out);
                out.extend_from_slice(&text);
            }
            Type::Bytes => {
                encode_key(number, WireType::LengthDelimited, out);
                let len = self.rng.random_range(0..64);
                encode_varint(len as u64, out);
                out.extend((0..len).map(|_| self.rng.random::<u8>()));
            }
            Type::Message => {
                if depth >= MAX_DEPTH && !self.rng.random_bool(0.05) {
                    return;
                }
                let mut inner = Vec::new();
                self.encode_message(field.type_name(), depth + 1, &mut inner);
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(inner.len() as u64, out);
                out.extend_from_slice(&inner);
            }
            // Any varint is a valid encoding of each of these; zigzag only changes what it means.
            Type::Bool
            | Type::Enum
            | Type::Int32
            | Type::Int64
            | Type::Uint32
            | Type::Uint64
            | Type::Sint32
            | Type::Sint64 => {
                encode_key(number, WireType::Varint, out);
                encode_varint(self.integer(), out);
            }
            Type::Double | Type::Fixed64 | Type::Sfixed64 => {
                encode_key(number, WireType::SixtyFourBit, out);
                let value = match self.rng.random_range(0..4) {
                    0 => f64::NAN.to_bits(),
                    1 => f64::INFINITY.to_bits(),
                    2 => u64::MAX,
                    _ => self.rng.random::<u64>(),
                };
                out.put_u64_le(value);
            }
            Type::Float | Type::Fixed32 | Type::Sfixed32 => {
                encode_key(number, WireType::ThirtyTwoBit, out);
                out.put_u32_le(self.rng.random());
            }
            Type::Group => {}
        }
        // A nested message was charged for its own fields; this charges its framing, and the scalars.
        let own = if field.r#type() == Type::Message {
            8
        } else {
            out.len() - before
        };
        self.budget = self.budget.saturating_sub(own.max(8));
    }

    /// A varint: 0, 1, -1 (as protobuf sends it), the extremes, or anything.
    fn integer(&mut self) -> u64 {
        match self.rng.random_range(0..7) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => i32::MAX as u64,
            4 => i64::MIN as u64,
            5 => self.rng.random_range(0..100),
            _ => self.rng.random(),
        }
    }

    /// String bytes: empty, ordinary, oversized, control characters, U+0000, right-to-left marks,
    /// emoji, or bytes that are not UTF-8 at all.
    fn text(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0 => Vec::new(),
            1 => "job.completed".into(),
            2 => vec![b'x'; self.rng.random_range(1_000..70_000)],
            3 => "a\u{0}b".into(),
            4 => "\u{1b}[31mred\u{1b}[0m\r\n\u{7f}".into(),
            5 => "\u{202e}gnp.exe \u{1F600} ünïcödé".into(),
            6 => vec![0xff, 0xfe, b'a', 0xc3],
            7 => "https://127.0.0.1:1/hooks".into(),
            8 => "org_acme".into(),
            _ => (0..self.rng.random_range(1..40))
                .map(|_| self.rng.random_range(0u8..128))
                .collect(),
        }
    }
}

/// A codec that sends and receives the message bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}
