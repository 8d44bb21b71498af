<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/** Strings stored as they are (binary safe); shares values with non-PHP clients. */
final class RawSerializer implements Serializer
{
    public function serialize(mixed $value): string
    {
        if (!\is_string($value)) {
            throw new KeyValueException('RawSerializer stores strings only, got ' . get_debug_type($value));
        }
        return $value;
    }

    public function unserialize(string $bytes): mixed
    {
        return $bytes;
    }
}
