//! Enums: a scalar names a unit variant, a one-key mapping a variant with
//! a value.

use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, IntoDeserializer, VariantAccess, Visitor};

use super::deserializer::NodeDe;
use super::DeError;
use crate::node::Node;

pub(super) struct OneOf(pub(super) &'static [&'static str]);

impl de::Expected for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{v}`")?;
        }
        Ok(())
    }
}

pub(super) struct EnumDe<'a> {
    pub(super) variant: String,
    pub(super) value: Option<&'a Node>,
    pub(super) parent: NodeDe<'a>,
}

impl<'de, 'a> EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe<'a>), DeError> {
        let de: de::value::StringDeserializer<DeError> = self.variant.into_deserializer();
        let value = seed.deserialize(de)?;
        Ok((
            value,
            VariantDe {
                value: self.value,
                parent: self.parent,
            },
        ))
    }
}

pub(super) struct VariantDe<'a> {
    pub(super) value: Option<&'a Node>,
    pub(super) parent: NodeDe<'a>,
}

impl<'a> VariantDe<'a> {
    fn value_de(&self) -> Result<NodeDe<'a>, DeError> {
        match self.value {
            Some(node) => Ok(NodeDe {
                node,
                ..self.parent
            }),
            None => Err(de::Error::custom("expected a mapping for this variant")),
        }
    }
}

impl<'de> VariantAccess<'de> for VariantDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(node) if node.is_null() => Ok(()),
            Some(_) => Err(de::Error::custom("this variant takes no value")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self.value_de()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value_de()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self.value_de()?, "", fields, visitor)
    }
}
