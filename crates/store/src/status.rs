//! The row vocabularies: each status column's values, spelled once. Registry and delivery read and
//! write them as these types, so a misspelt status cannot compile; the SQL keeps its literals only where
//! a statement itself decides a status (`'pending'` for a redelivery, say).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Defines a status enum stored as `text`, with its spellings, `as_str` and the sqlx codecs.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// The value as stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value stored as `text`, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl Decode<'_, Postgres> for $name {
            fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Postgres>>::decode(value)?;
                Self::parse(text).ok_or_else(|| {
                    format!("{text:?} is not a {}", stringify!($name)).into()
                })
            }
        }
    };
}

text_enum! {
    /// `webhooks.status`: whether a webhook receives deliveries.
    WebhookStatus {
        Enabled => "enabled",
        Disabled => "disabled",
    }
}

text_enum! {
    /// `deliveries.status`: where a delivery stands.
    DeliveryStatus {
        /// Recorded, its first attempt not yet made (or a redelivery asked for).
        Pending => "pending",
        /// Failed, with an attempt scheduled.
        Retrying => "retrying",
        Succeeded => "succeeded",
        /// Failed for good: dead-lettered.
        Failed => "failed",
        /// Recorded, never to be attempted (triggers off, or a pinned version the event lacks).
        Skipped => "skipped",
        /// The webhook was disabled or deleted before an attempt.
        Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_as_itself() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(*status));
        }
        for status in WebhookStatus::ALL {
            assert_eq!(WebhookStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(DeliveryStatus::parse("Pending"), None);
    }
}
