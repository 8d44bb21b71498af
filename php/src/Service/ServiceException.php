<?php

declare(strict_types=1);

namespace Coyote\Service;

/**
 * A `service.*` RPC call failed: the server answered with an error (an
 * unknown name: `no such service: x`, a name in use: `service already
 * exists: x`, a command that cannot start, an argument out of range; the
 * `Coyote\RPC\ServiceException` is the previous exception), its answer could
 * not be decoded, or the call could not be made.
 */
final class ServiceException extends \RuntimeException
{
    public static function fromCall(string $method, \Throwable $cause): self
    {
        // As roadrunner-php/services: the server's text on one line.
        $message = str_replace(["\t", "\n"], ' ', $cause->getMessage());
        return new self("$method failed: $message", 0, $cause);
    }
}
