<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * One request as read off the wire, before it becomes a PSR-7 request.
 * Header names keep their case; `header()` looks up case-insensitively.
 */
final class ParsedRequest
{
    /**
     * @param list<array{string, string}> $headers [name, value] in wire order
     */
    public function __construct(
        public readonly string $method,
        public readonly string $target,
        public readonly string $version,
        public readonly array $headers,
        public readonly string $body,
        public readonly bool $keepAlive,
    ) {
    }

    /** The values of one header (case-insensitive name), in order. */
    public function header(string $name): array
    {
        $values = [];
        foreach ($this->headers as [$n, $v]) {
            if (strcasecmp($n, $name) === 0) {
                $values[] = $v;
            }
        }
        return $values;
    }

    /** The values joined with ", " as a single line; "" when absent. */
    public function headerLine(string $name): string
    {
        return implode(', ', $this->header($name));
    }
}
