<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * The limits and timeouts of an {@see HttpServer} (seconds, bytes). From
 * an array with fromArray(): the same names in snake_case
 * (`header_timeout`, `idle_timeout`, `body_timeout`, `write_timeout`,
 * `max_header_size`, `max_body_size`, `handshake_timeout`,
 * `max_file_uploads`, `max_multipart_parts`).
 */
final class HttpOptions
{
    public function __construct(
        /** A new connection (or the next request on a kept-alive one) must send its whole head within this. */
        public readonly float $headerTimeout = 10.0,
        /** A kept-alive connection with no request in progress is closed after this. */
        public readonly float $idleTimeout = 60.0,
        /** Longest pause while a request body is being received. */
        public readonly float $bodyTimeout = 60.0,
        /** Longest pause while the client does not read what is written to it. */
        public readonly float $writeTimeout = 60.0,
        /** Request line + headers (431 beyond). */
        public readonly int $maxHeaderSize = 16384,
        /** Request body (413 beyond). */
        public readonly int $maxBodySize = 16 << 20,
        /** How long to wait for Coyote's handshake at start. */
        public readonly float $handshakeTimeout = 60.0,
        /** Files in a multipart/form-data body, empty file inputs not counted (413 beyond; PHP's max_file_uploads). */
        public readonly int $maxFileUploads = 20,
        /** Parts of a multipart/form-data body, fields and files (413 beyond). */
        public readonly int $maxMultipartParts = 1000,
    ) {
        foreach (['headerTimeout', 'idleTimeout', 'bodyTimeout', 'writeTimeout', 'handshakeTimeout'] as $name) {
            if ($this->$name <= 0) {
                throw new \InvalidArgumentException("$name must be positive");
            }
        }
        if ($maxHeaderSize < 64 || $maxBodySize < 0) {
            throw new \InvalidArgumentException('maxHeaderSize must be at least 64 and maxBodySize not negative');
        }
        if ($maxFileUploads < 0 || $maxMultipartParts < 0) {
            throw new \InvalidArgumentException('maxFileUploads and maxMultipartParts must not be negative');
        }
    }

    /** @param array<string, int|float> $options snake_case names */
    public static function fromArray(array $options): self
    {
        $args = [];
        foreach ($options as $key => $value) {
            $name = lcfirst(str_replace('_', '', ucwords($key, '_')));
            if (!property_exists(self::class, $name)) {
                throw new \InvalidArgumentException("unknown HTTP option \"$key\"");
            }
            $args[$name] = str_ends_with($name, 'Timeout') ? (float) $value : (int) $value;
        }
        return new self(...$args);
    }
}
