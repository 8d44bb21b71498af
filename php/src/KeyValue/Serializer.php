<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/** How a Cache turns values into the bytes the server stores, and back. */
interface Serializer
{
    public function serialize(mixed $value): string;

    public function unserialize(string $bytes): mixed;
}
