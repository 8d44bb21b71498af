<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/** The storage is not configured on the server (`no such storage`). */
final class StorageException extends KeyValueException
{
}
