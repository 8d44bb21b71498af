<?php

declare(strict_types=1);

namespace Coyote\Lock;

/**
 * A lock RPC call failed: the server answered with an error (bad argument:
 * empty resource or id, negative or too long ttl / wait; the
 * `Coyote\RPC\ServiceException` is the previous exception) or the call could
 * not be made.
 */
final class LockException extends \RuntimeException
{
    public static function fromCall(string $method, \Throwable $cause): self
    {
        return new self("$method failed: " . $cause->getMessage(), 0, $cause);
    }
}
