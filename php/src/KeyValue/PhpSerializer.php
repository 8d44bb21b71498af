<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/** PHP's serialize() (the default of roadrunner-php/kv, so both read each other's values). */
final class PhpSerializer implements Serializer
{
    public function serialize(mixed $value): string
    {
        return serialize($value);
    }

    public function unserialize(string $bytes): mixed
    {
        $value = @unserialize($bytes, ['allowed_classes' => true]);
        if ($value === false && $bytes !== serialize(false)) {
            throw new KeyValueException('a stored value is not PHP-serialized data');
        }
        return $value;
    }
}
