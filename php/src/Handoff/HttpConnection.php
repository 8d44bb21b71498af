<?php

declare(strict_types=1);

namespace Coyote\Handoff;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\StreamInterface;

/**
 * One client connection of an {@see HttpServer}: its request parser, the
 * bytes waiting to be written, a response body still being streamed, and
 * the deadline of the state it is in (head, body, write, idle), and the
 * upload temp files of the requests whose answers are not written yet.
 *
 * @internal
 */
final class HttpConnection
{
    /** Below this much unwritten output, more requests are handled / more body is read. */
    public const HIGH_WATER = 1 << 18;
    private const READ = 65536;
    private const INLINE_BODY = 65536;
    /** Seconds a refused client has to stop sending before it is closed. */
    public const LINGER = 2.0;

    public readonly RequestParser $parser;
    public string $out = '';
    /** The body being streamed, chunked or with $sourceLeft bytes to go. */
    private ?StreamInterface $source = null;
    private bool $sourceChunked = false;
    private int $sourceLeft = 0;
    /** Close once the output is written (Connection: close, an error, the client's EOF). */
    public bool $closeAfterWrite = false;
    /** The client sent EOF: serve what is buffered, then close. */
    public bool $readClosed = false;
    public int $requests = 0;
    /** @var list<string> upload temp files to delete once the answers queued are written */
    public array $uploads = [];
    /** A refused request: after the answer, discard input until EOF (or LINGER) before closing. */
    public bool $linger = false;
    /** Writing is shut down; reading on until the client's EOF. */
    public bool $lingering = false;
    private string $state = 'head';
    private float $since;

    public function __construct(public readonly Connection $connection, HttpOptions $options, float $now)
    {
        $this->parser = new RequestParser($options->maxHeaderSize, $options->maxBodySize);
        $this->since = $now;
        stream_set_blocking($connection->stream, false);
        stream_set_read_buffer($connection->stream, 0);
        stream_set_write_buffer($connection->stream, 0);
    }

    /** Deletes the upload temp files (those still there: the handler may have moved them). */
    public function removeUploads(): void
    {
        if ($this->uploads !== []) {
            MultipartParser::remove($this->uploads);
            $this->uploads = [];
        }
    }

    /** @return resource */
    public function stream(): mixed
    {
        return $this->connection->stream;
    }

    public function writing(): bool
    {
        return $this->out !== '' || $this->source !== null;
    }

    /** Whether to handle more requests now (pipelining, bounded by the output backlog). */
    public function ready(): bool
    {
        return !$this->closeAfterWrite && $this->source === null && \strlen($this->out) < self::HIGH_WATER;
    }

    public function wantsRead(): bool
    {
        if ($this->lingering) {
            return !$this->readClosed;
        }
        return !$this->readClosed && !$this->closeAfterWrite && \strlen($this->out) < self::HIGH_WATER;
    }

    /** Nothing in progress: no buffered request bytes, no output (a kept-alive connection between requests). */
    public function idle(): bool
    {
        return !$this->writing() && !$this->parser->hasPartial() && $this->requests > 0;
    }

    /** Reads what is there: the number of bytes (0 at EOF or on an error: readClosed is set then). */
    public function read(): int
    {
        $bytes = @fread($this->connection->stream, self::READ);
        if ($bytes === false || ($bytes === '' && feof($this->connection->stream))) {
            $this->readClosed = true;
            return 0;
        }
        if (!$this->lingering) {
            $this->parser->feed($bytes);
        }
        return \strlen($bytes);
    }

    /** Writes what it can: the number of bytes written, false when the client is gone. */
    public function write(): int|false
    {
        $total = 0;
        while (true) {
            $this->pull();
            if ($this->out === '') {
                return $total;
            }
            $written = @fwrite($this->connection->stream, $this->out);
            if ($written === false) {
                return false;
            }
            if ($written === 0) {
                // A full socket buffer (EAGAIN).
                return $total;
            }
            $total += $written;
            $this->out = substr($this->out, $written);
        }
    }

    /** The state's deadline, moving it when the state changed or there was progress. */
    public function deadline(HttpOptions $options, float $now, bool $progress): float
    {
        $state = match (true) {
            $this->lingering => 'linger',
            $this->writing() => 'write',
            $this->parser->inBody() => 'body',
            $this->parser->hasPartial() || $this->requests === 0 => 'head',
            default => 'idle',
        };
        if ($state !== $this->state || ($progress && ($state === 'write' || $state === 'body'))) {
            $this->state = $state;
            $this->since = $now;
        }
        return $this->since + match ($state) {
            'write' => $options->writeTimeout,
            'body' => $options->bodyTimeout,
            'head' => $options->headerTimeout,
            'linger' => self::LINGER,
            default => $options->idleTimeout,
        };
    }

    /** Queues an answer the server makes itself (errors), closing afterwards when $close. */
    public function respondRaw(int $status, string $body, bool $close, string $version = '1.1'): void
    {
        $this->out .= "HTTP/1.1 $status " . self::reason($status) . "\r\n"
            . "Content-Type: text/plain; charset=utf-8\r\n"
            . 'Content-Length: ' . \strlen($body) . "\r\n"
            . ($close ? "Connection: close\r\n" : ($version === '1.0' ? "Connection: keep-alive\r\n" : ''))
            . "\r\n" . $body;
        if ($close) {
            $this->closeAfterWrite = true;
            $this->linger = $status >= 400 && $status !== 500;
        }
    }

    /**
     * Lingering close: the answer is written, so shut down writing (the
     * client sees the end) and read what it still sends, so that closing
     * with unread input does not reset the connection and lose the answer.
     */
    public function startLinger(): void
    {
        $this->lingering = true;
        @socket_shutdown($this->connection->socket(), 1);
    }

    /** Queues "100 Continue" (a client waiting before it sends its body). */
    public function respondContinue(): void
    {
        $this->out .= "HTTP/1.1 100 Continue\r\n\r\n";
    }

    /**
     * Queues a PSR-7 response: Content-Length when the body's size is
     * known, chunked (HTTP/1.1) when not; bodies are streamed as the
     * client reads. The response's own Content-Length, Transfer-Encoding
     * and Connection headers are replaced (a `Connection: close` from the
     * application is honoured).
     */
    public function respond(ParsedRequest $request, ResponseInterface $response, bool $keepAlive): void
    {
        $status = $response->getStatusCode();
        $reason = $response->getReasonPhrase();
        $head = "HTTP/1.1 $status " . ($reason !== '' ? $reason : self::reason($status)) . "\r\n";
        foreach ($response->getHeaders() as $name => $values) {
            $lower = strtolower((string) $name);
            if ($lower === 'connection') {
                foreach ($values as $value) {
                    if (stripos($value, 'close') !== false) {
                        $keepAlive = false;
                    }
                }
                continue;
            }
            if ($lower === 'content-length' || $lower === 'transfer-encoding' || $lower === 'keep-alive') {
                continue;
            }
            foreach ($values as $value) {
                $head .= "$name: $value\r\n";
            }
        }
        $noBody = $request->method === 'HEAD' || $status < 200 || $status === 204 || $status === 304;
        $body = $response->getBody();
        $size = $body->getSize();
        $text = null;
        if ($size === null && $request->version === '1.0' && !$noBody) {
            $text = $body->getContents();   // no chunked coding for HTTP/1.0 clients
            $size = \strlen($text);
        }
        if ($status >= 200 && $status !== 204 && $status !== 304) {
            $head .= $size !== null ? "Content-Length: $size\r\n" : "Transfer-Encoding: chunked\r\n";
        }
        if (!$keepAlive) {
            $head .= "Connection: close\r\n";
            $this->closeAfterWrite = true;
        } elseif ($request->version === '1.0') {
            $head .= "Connection: keep-alive\r\n";
        }
        $this->out .= $head . "\r\n";
        if ($noBody) {
            return;
        }
        if ($text !== null) {
            $this->out .= $text;
            return;
        }
        if ($body->isSeekable()) {
            $body->rewind();
        }
        if ($size !== null && $size <= self::INLINE_BODY) {
            $this->out .= $size > 0 ? $body->getContents() : '';
            return;
        }
        $this->source = $body;
        $this->sourceChunked = $size === null;
        $this->sourceLeft = $size ?? 0;
    }

    /** Moves response body into the output while the backlog is small. */
    private function pull(): void
    {
        while ($this->source !== null && \strlen($this->out) < self::HIGH_WATER) {
            $want = $this->sourceChunked ? self::READ : min(self::READ, $this->sourceLeft);
            $chunk = $want > 0 && !$this->source->eof() ? $this->source->read($want) : '';
            if ($chunk === '') {
                if ($this->sourceChunked) {
                    $this->out .= "0\r\n\r\n";
                } elseif ($this->sourceLeft > 0) {
                    $this->closeAfterWrite = true;  // the body was shorter than its size: cannot recover
                }
                $this->source->close();
                $this->source = null;
                return;
            }
            if ($this->sourceChunked) {
                $this->out .= dechex(\strlen($chunk)) . "\r\n" . $chunk . "\r\n";
            } else {
                $this->out .= $chunk;
                $this->sourceLeft -= \strlen($chunk);
            }
        }
    }

    public static function reason(int $status): string
    {
        return match ($status) {
            100 => 'Continue',
            200 => 'OK',
            201 => 'Created',
            204 => 'No Content',
            301 => 'Moved Permanently',
            302 => 'Found',
            304 => 'Not Modified',
            400 => 'Bad Request',
            401 => 'Unauthorized',
            403 => 'Forbidden',
            404 => 'Not Found',
            405 => 'Method Not Allowed',
            408 => 'Request Timeout',
            413 => 'Content Too Large',
            431 => 'Request Header Fields Too Large',
            500 => 'Internal Server Error',
            501 => 'Not Implemented',
            502 => 'Bad Gateway',
            503 => 'Service Unavailable',
            505 => 'HTTP Version Not Supported',
            default => 'Status ' . $status,
        };
    }
}
