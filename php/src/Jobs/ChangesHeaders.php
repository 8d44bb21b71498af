<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * Copies of a task with changed headers; the original is left as it was.
 *
 * @internal
 */
trait ChangesHeaders
{
    use ReadsHeaders;

    /** A copy whose header `$name` holds exactly `$value`. */
    public function withHeader(string $name, string|array $value): static
    {
        $self = clone $this;
        $self->headers[Headers::name($name)] = Headers::values($name, $value);
        return $self;
    }

    /** A copy with `$value` appended to the header `$name`. */
    public function withAddedHeader(string $name, string|array $value): static
    {
        $self = clone $this;
        $self->headers[Headers::name($name)] = [
            ...($this->headers[$name] ?? []),
            ...Headers::values($name, $value),
        ];
        return $self;
    }

    /** A copy without the header `$name`. */
    public function withoutHeader(string $name): static
    {
        $self = clone $this;
        unset($self->headers[$name]);
        return $self;
    }
}
