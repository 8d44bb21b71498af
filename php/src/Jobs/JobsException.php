<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * A jobs RPC call failed: the server answered with an error (the
 * `Coyote\RPC\ServiceException` is the previous exception; its message is
 * repeated here) or the call could not be made (relay closed, bad answer).
 */
final class JobsException extends \RuntimeException
{
    public static function fromCall(string $method, \Throwable $cause): self
    {
        return new self("$method failed: " . $cause->getMessage(), 0, $cause);
    }
}
