<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/**
 * A kv call failed; for an error answered by the server, the previous
 * exception is the Coyote\RPC\ServiceException carrying its message.
 */
class KeyValueException extends \RuntimeException
{
}
