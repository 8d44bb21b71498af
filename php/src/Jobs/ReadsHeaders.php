<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * Read access to a task's headers: name => list of values, as jobs.v1
 * carries them (map<string, HeaderValue>). Names are matched exactly (the
 * wire map is case-sensitive).
 *
 * @internal
 */
trait ReadsHeaders
{
    /** @var array<string, list<string>> */
    private array $headers = [];

    /** @return array<string, list<string>> */
    public function getHeaders(): array
    {
        return $this->headers;
    }

    public function hasHeader(string $name): bool
    {
        return ($this->headers[$name] ?? []) !== [];
    }

    /** @return list<string> */
    public function getHeader(string $name): array
    {
        return $this->headers[$name] ?? [];
    }

    /** The values joined by ",", or "" when the header is absent. */
    public function getHeaderLine(string $name): string
    {
        return implode(',', $this->getHeader($name));
    }
}
