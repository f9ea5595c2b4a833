//! The codec of every hookline.v1 *server*: prost's, except for what a request that does not decode
//! gets. prost's codec answers `INTERNAL` (the status gRPC reserves for a broken server), which tells
//! a client that sent data nested past protobuf's recursion limit, or bytes that are not the message at
//! all, that the fault is ours and worth retrying. It is the caller's request that is wrong:
//! `INVALID_ARGUMENT`, with prost's account of where decoding stopped. Clients keep prost's own codec,
//! for which a response that does not decode is indeed an internal error.

use prost::Message;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The servers' codec (see the module's comment).
#[derive(Debug, Clone)]
pub struct RequestCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::default())
    }
}

impl<T, U> tonic::codec::Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(self.0.decoder())
    }
}

/// prost's decoder, with a request that does not decode made the caller's error.
#[derive(Debug, Clone)]
pub struct RequestDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| match status.code() {
            Code::Internal => Status::invalid_argument(format!(
                "the request is not a valid {}: {} (protobuf messages, google.protobuf.Struct \
                 data included, may nest at most 100 levels deep)",
                short_name::<U>(),
                status.message()
            )),
            _ => status,
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The message's name without its module path: `PublishEventRequest`.
fn short_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}
