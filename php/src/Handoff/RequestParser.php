<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * An incremental HTTP/1.x request parser for one connection: feed() the
 * bytes as they arrive, next() returns each complete request in order
 * (several may be buffered: pipelining) or null until more bytes come.
 * Limits: the head (request line + headers, and a chunked body's
 * trailers) up to $maxHeaderSize bytes (431), the body up to
 * $maxBodySize (413). Content-Length and chunked bodies; anything
 * ambiguous (both, several different lengths, a Transfer-Encoding other
 * than chunked, obs-fold, a space before the colon) is refused.
 */
final class RequestParser
{
    private const TOKEN = '/^[!#$%&\'*+\-.^_`|~0-9A-Za-z]+$/';
    private const SIZE_LINE = 1024;

    private string $buffer = '';
    /** @var array{string, string, string, list<array{string, string}>, bool}|null the head waiting for its body */
    private ?array $head = null;
    private ?int $length = null;      // Content-Length body: bytes expected
    private bool $chunked = false;
    private string $body = '';
    private int $chunkLeft = -1;      // -1: at a size line; >0: data left; 0: the CRLF after the data
    private bool $trailers = false;
    private bool $continue = false;

    public function __construct(private int $maxHeaderSize = 16384, private int $maxBodySize = 16 << 20)
    {
    }

    public function feed(string $bytes): void
    {
        $this->buffer .= $bytes;
    }

    /** True when bytes of a request not yet complete are buffered (or a head waits for its body). */
    public function hasPartial(): bool
    {
        return $this->head !== null || ltrim($this->buffer, "\r\n") !== '';
    }

    /** True while a head has been read and its body is not complete. */
    public function inBody(): bool
    {
        return $this->head !== null;
    }

    /** Once per request that sent `Expect: 100-continue` and still has its body to send. */
    public function takeContinue(): bool
    {
        $wanted = $this->continue && $this->head !== null && $this->buffer === '';
        if ($wanted || $this->head === null) {
            $this->continue = false;
        }
        return $wanted;
    }

    /**
     * The next complete request, or null when more bytes are needed.
     *
     * @throws HttpError the request is refused; the connection must close
     */
    public function next(): ?ParsedRequest
    {
        if ($this->head === null && !$this->readHead()) {
            return null;
        }
        if ($this->chunked ? !$this->readChunked() : !$this->readLength()) {
            return null;
        }
        [$method, $target, $version, $headers, $keepAlive] = $this->head;
        $request = new ParsedRequest($method, $target, $version, $headers, $this->body, $keepAlive);
        $this->head = null;
        $this->body = '';
        $this->length = null;
        $this->chunked = false;
        $this->chunkLeft = -1;
        $this->trailers = false;
        $this->continue = false;
        return $request;
    }

    private function readHead(): bool
    {
        // Empty lines before a request line are ignored (RFC 9112 2.2).
        $skip = strspn($this->buffer, "\r\n");
        if ($skip > 0) {
            $this->buffer = substr($this->buffer, $skip);
        }
        $end = self::headEnd($this->buffer, 0);
        if ($end === null) {
            if (\strlen($this->buffer) > $this->maxHeaderSize) {
                throw new HttpError(431, 'request head larger than ' . $this->maxHeaderSize . ' bytes');
            }
            return false;
        }
        [$headLength, $total] = $end;
        if ($headLength > $this->maxHeaderSize) {
            throw new HttpError(431, 'request head larger than ' . $this->maxHeaderSize . ' bytes');
        }
        $lines = preg_split('/\r?\n/', substr($this->buffer, 0, $headLength));
        $this->buffer = substr($this->buffer, $total);

        $parts = explode(' ', (string) array_shift($lines));
        if (\count($parts) !== 3 || !preg_match(self::TOKEN, $parts[0]) || $parts[1] === '') {
            throw new HttpError(400, 'malformed request line');
        }
        [$method, $target, $protocol] = $parts;
        if (!preg_match('#^HTTP/(\d)\.(\d)$#', $protocol, $m)) {
            throw new HttpError(400, 'malformed protocol version');
        }
        if ($m[1] !== '1') {
            throw new HttpError(505, "HTTP/{$m[1]}.{$m[2]} is not supported");
        }
        $version = $m[2] === '0' ? '1.0' : '1.1';
        if (preg_match('/[\x00-\x20\x7f]/', $target)) {
            throw new HttpError(400, 'malformed request target');
        }

        $headers = [];
        foreach ($lines as $line) {
            if ($line === '' ) {
                continue;
            }
            if ($line[0] === ' ' || $line[0] === "\t") {
                throw new HttpError(400, 'obsolete line folding');
            }
            $colon = strpos($line, ':');
            if ($colon === false || !preg_match(self::TOKEN, substr($line, 0, $colon))) {
                throw new HttpError(400, 'malformed header line');
            }
            $value = trim(substr($line, $colon + 1), " \t");
            if (preg_match('/[\x00-\x08\x0a-\x1f\x7f]/', $value)) {
                throw new HttpError(400, 'control characters in a header value');
            }
            $headers[] = [substr($line, 0, $colon), $value];
        }
        $request = new ParsedRequest($method, $target, $version, $headers, '', false);

        $hosts = $request->header('Host');
        if (\count($hosts) > 1 || ($version === '1.1' && $hosts === [])) {
            throw new HttpError(400, 'a request needs exactly one Host header');
        }
        $connection = array_map('trim', explode(',', strtolower($request->headerLine('Connection'))));
        $keepAlive = $version === '1.1' ? !\in_array('close', $connection, true) : \in_array('keep-alive', $connection, true);

        $encodings = $request->header('Transfer-Encoding');
        $lengths = $request->header('Content-Length');
        $this->chunked = false;
        $this->length = 0;
        if ($encodings !== []) {
            if ($lengths !== []) {
                throw new HttpError(400, 'both Transfer-Encoding and Content-Length');
            }
            if ($version === '1.0') {
                throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
            }
            $codings = array_map('trim', explode(',', strtolower(implode(',', $encodings))));
            if ($codings !== ['chunked']) {
                throw new HttpError(\in_array('chunked', $codings, true) && end($codings) !== 'chunked' ? 400 : 501,
                    'unsupported transfer coding: ' . implode(', ', $codings));
            }
            $this->chunked = true;
        } elseif ($lengths !== []) {
            $values = array_unique(array_map('trim', explode(',', implode(',', $lengths))));
            if (\count($values) !== 1 || !ctype_digit($values[0]) || \strlen($values[0]) > 18) {
                throw new HttpError(400, 'invalid Content-Length');
            }
            $this->length = (int) $values[0];
            if ($this->length > $this->maxBodySize) {
                throw new HttpError(413, "a body of {$this->length} bytes exceeds the limit of {$this->maxBodySize}");
            }
        }
        $this->continue = $version === '1.1' && strcasecmp($request->headerLine('Expect'), '100-continue') === 0
            && ($this->chunked || $this->length > 0);
        $this->head = [$method, $target, $version, $headers, $keepAlive];
        return true;
    }

    private function readLength(): bool
    {
        if (\strlen($this->buffer) < $this->length) {
            return false;
        }
        $this->body = substr($this->buffer, 0, $this->length);
        $this->buffer = substr($this->buffer, $this->length);
        return true;
    }

    private function readChunked(): bool
    {
        while (true) {
            if ($this->trailers) {
                // The trailer section ends with an empty line; trailers are dropped.
                if (str_starts_with($this->buffer, "\r\n") || str_starts_with($this->buffer, "\n")) {
                    $this->buffer = substr($this->buffer, $this->buffer[0] === "\r" ? 2 : 1);
                    return true;
                }
                $end = self::headEnd($this->buffer, 0);
                if ($end === null) {
                    if (\strlen($this->buffer) > $this->maxHeaderSize) {
                        throw new HttpError(431, 'trailers larger than ' . $this->maxHeaderSize . ' bytes');
                    }
                    return false;
                }
                $this->buffer = substr($this->buffer, $end[1]);
                return true;
            }
            if ($this->chunkLeft === -1) {
                $eol = strpos($this->buffer, "\n");
                if ($eol === false) {
                    if (\strlen($this->buffer) > self::SIZE_LINE) {
                        throw new HttpError(400, 'chunk size line too long');
                    }
                    return false;
                }
                $line = rtrim(substr($this->buffer, 0, $eol), "\r");
                $this->buffer = substr($this->buffer, $eol + 1);
                $size = trim(explode(';', $line, 2)[0], " \t");
                if ($size === '' || !ctype_xdigit($size) || \strlen(ltrim($size, '0')) > 15) {
                    throw new HttpError(400, 'invalid chunk size');
                }
                $size = (int) hexdec($size);
                if ($size === 0) {
                    $this->trailers = true;
                    continue;
                }
                if (\strlen($this->body) + $size > $this->maxBodySize) {
                    throw new HttpError(413, 'a chunked body exceeds the limit of ' . $this->maxBodySize . ' bytes');
                }
                $this->chunkLeft = $size;
            }
            if ($this->chunkLeft > 0) {
                $take = min($this->chunkLeft, \strlen($this->buffer));
                if ($take === 0) {
                    return false;
                }
                $this->body .= substr($this->buffer, 0, $take);
                $this->buffer = substr($this->buffer, $take);
                $this->chunkLeft -= $take;
                if ($this->chunkLeft > 0) {
                    return false;
                }
            }
            // The CRLF after the chunk's data.
            if (str_starts_with($this->buffer, "\r\n")) {
                $this->buffer = substr($this->buffer, 2);
            } elseif (str_starts_with($this->buffer, "\n")) {
                $this->buffer = substr($this->buffer, 1);
            } elseif ($this->buffer === '' || $this->buffer === "\r") {
                return false;
            } else {
                throw new HttpError(400, 'chunk data not followed by CRLF');
            }
            $this->chunkLeft = -1;
        }
    }

    /**
     * Where the head ends: [length of the head without the blank line,
     * length including it], or null when not buffered yet.
     *
     * @return array{int, int}|null
     */
    private static function headEnd(string $buffer, int $from): ?array
    {
        $crlf = strpos($buffer, "\r\n\r\n", $from);
        $lf = strpos($buffer, "\n\n", $from);
        if ($crlf === false && $lf === false) {
            return null;
        }
        if ($lf === false || ($crlf !== false && $crlf < $lf)) {
            return [$crlf, $crlf + 4];
        }
        return [$lf, $lf + 2];
    }
}
