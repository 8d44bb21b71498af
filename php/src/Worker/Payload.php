<?php

declare(strict_types=1);

namespace Coyote\Worker;

/**
 * What travels in one exec: the context ("header": for HTTP the request
 * line and headers) and the body. `eos` false marks a streamed part.
 */
final class Payload
{
    public function __construct(
        public string $body = '',
        public string $header = '',
        public bool $eos = true,
        public int $codec = 0,
    ) {
    }
}
