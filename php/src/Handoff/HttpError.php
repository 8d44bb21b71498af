<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * A request the server refuses before the handler sees it: 400 (malformed),
 * 413 (body too large, or too many multipart parts or files), 431 (head
 * too large), 501 (a transfer coding other
 * than chunked), 505 (not HTTP/1.x). The connection is closed after the
 * answer.
 */
final class HttpError extends \RuntimeException
{
    public function __construct(public readonly int $status, string $message)
    {
        parent::__construct($message, $status);
    }
}
