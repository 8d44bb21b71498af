<?php

declare(strict_types=1);

namespace Coyote\Tests\Support;

use PHPUnit\Framework\Assert;

/**
 * A minimal HTTP/1.1 client over a raw stream, for tests that need to see
 * the bytes: write anything, read responses one at a time (Content-Length
 * or chunked bodies), wait for the server to close.
 */
final class RawHttp
{
    private string $buffer = '';

    /** @param resource $stream */
    public function __construct(public $stream, private float $timeout = HandoffPeer::TIMEOUT)
    {
        stream_set_blocking($stream, false);
    }

    public function write(string $bytes): void
    {
        stream_set_blocking($this->stream, true);
        $written = fwrite($this->stream, $bytes);
        stream_set_blocking($this->stream, false);
        Assert::assertSame(\strlen($bytes), $written);
    }

    /**
     * The next response: status, headers (lower-case names, values joined
     * with ", "), body (de-chunked).
     *
     * @return array{status: int, headers: array<string, string>, body: string, raw: string}
     */
    public function response(bool $head = false): array
    {
        while (($end = strpos($this->buffer, "\r\n\r\n")) === false) {
            Assert::assertTrue($this->fill(), 'the connection closed before a response head: ' . json_encode($this->buffer));
        }
        $lines = explode("\r\n", substr($this->buffer, 0, $end));
        $raw = substr($this->buffer, 0, $end + 4);
        $this->buffer = substr($this->buffer, $end + 4);
        Assert::assertMatchesRegularExpression('#^HTTP/1\.1 \d{3} #', $lines[0]);
        $status = (int) substr($lines[0], 9, 3);
        $headers = [];
        foreach (\array_slice($lines, 1) as $line) {
            [$name, $value] = explode(':', $line, 2);
            $name = strtolower($name);
            $headers[$name] = isset($headers[$name]) ? $headers[$name] . ', ' . trim($value) : trim($value);
        }
        $body = '';
        if ($head || $status < 200 || $status === 204 || $status === 304) {
            return ['status' => $status, 'headers' => $headers, 'body' => '', 'raw' => $raw];
        }
        if (isset($headers['content-length'])) {
            $length = (int) $headers['content-length'];
            while (\strlen($this->buffer) < $length) {
                Assert::assertTrue($this->fill(), 'the connection closed in a body');
            }
            $body = substr($this->buffer, 0, $length);
            $this->buffer = substr($this->buffer, $length);
        } elseif (($headers['transfer-encoding'] ?? '') === 'chunked') {
            while (true) {
                while (($eol = strpos($this->buffer, "\r\n")) === false) {
                    Assert::assertTrue($this->fill(), 'the connection closed in a chunk size');
                }
                $size = hexdec(substr($this->buffer, 0, $eol));
                while (\strlen($this->buffer) < $eol + 2 + $size + 2) {
                    Assert::assertTrue($this->fill(), 'the connection closed in a chunk');
                }
                $body .= substr($this->buffer, $eol + 2, (int) $size);
                $this->buffer = substr($this->buffer, $eol + 2 + (int) $size + 2);
                if ($size === 0) {
                    break;
                }
            }
        } else {
            while ($this->fill()) {
            }
            $body = $this->buffer;
            $this->buffer = '';
        }
        return ['status' => $status, 'headers' => $headers, 'body' => $body, 'raw' => $raw];
    }

    /** Waits until the server closes; returns the seconds it took (fails after the timeout). */
    public function waitClose(): float
    {
        $start = microtime(true);
        while ($this->fill()) {
        }
        return microtime(true) - $start;
    }

    /** True if nothing is left unread after waiting $seconds (no extra response). */
    public function nothingWithin(float $seconds): bool
    {
        $read = [$this->stream];
        $write = $except = null;
        if (stream_select($read, $write, $except, (int) $seconds, (int) (fmod($seconds, 1.0) * 1e6)) === 0) {
            return $this->buffer === '';
        }
        return false;
    }

    /** Reads more; false at EOF. */
    private function fill(): bool
    {
        $read = [$this->stream];
        $write = $except = null;
        $ready = stream_select($read, $write, $except, (int) $this->timeout, (int) (fmod($this->timeout, 1.0) * 1e6));
        Assert::assertGreaterThan(0, $ready, 'timed out waiting for the server; buffered: ' . json_encode($this->buffer));
        $bytes = fread($this->stream, 65536);
        if ($bytes === false || ($bytes === '' && feof($this->stream))) {
            return false;
        }
        $this->buffer .= $bytes;
        return true;
    }

    public function buffered(): string
    {
        return $this->buffer;
    }
}
