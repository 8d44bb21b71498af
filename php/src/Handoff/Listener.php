<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * The worker's own listening socket (reuseport: fd 4, COYOTE_LISTEN_FD),
 * bound and listening already. accept() never blocks; close() stops
 * listening for good: a TCP socket is shut down (SHUT_RD), which takes it
 * out of the SO_REUSEPORT group at once (with tcp_migrate_req its queued
 * connections move to the other workers) even though the inherited
 * descriptor itself stays open; a unix socket, shared by all the workers,
 * is only closed here.
 */
final class Listener
{
    /** Out of descriptors (or memory): accepting pauses this long first, doubling up to MAX_PAUSE. */
    public const FIRST_PAUSE = 0.005;
    public const MAX_PAUSE = 1.0;
    private const EXHAUSTED = [12 /* ENOMEM */, 23 /* ENFILE */, 24 /* EMFILE */, 105 /* ENOBUFS */];

    private ?\Socket $socket;
    private bool $unix;
    private float $pause = 0.0;
    private float $pausedUntil = 0.0;

    /** @param resource|null $stream a stream on the same descriptor, for stream_select */
    public function __construct(\Socket $socket, private mixed $stream = null, private string $address = '')
    {
        $this->socket = $socket;
        if ($this->stream === null) {
            $stream = socket_export_stream($socket);
            if ($stream === false) {
                throw new HandoffException('cannot export the listening socket as a stream');
            }
            $this->stream = $stream;
        }
        socket_set_nonblock($socket);
        $name = '';
        $port = null;
        $this->unix = str_starts_with($address, 'unix:')
            || (@socket_getsockname($socket, $name, $port) && $port === null);
    }

    /** The listening socket inherited as descriptor $fd (4, COYOTE_LISTEN_FD). */
    public static function fromFd(int $fd = 4, string $address = ''): self
    {
        $stream = @fopen("php://fd/$fd", 'r+');
        if ($stream === false) {
            throw new HandoffException("descriptor $fd is not open: no listening socket (RR_MODE=reuseport?)");
        }
        $socket = @socket_import_stream($stream);
        if ($socket === false) {
            throw new HandoffException("descriptor $fd is not a socket");
        }
        return new self($socket, $stream, $address);
    }

    /** @return resource|null the descriptor as a stream for stream_select; null once closed */
    public function stream(): mixed
    {
        return $this->socket === null ? null : $this->stream;
    }

    public function address(): string
    {
        return $this->address;
    }

    /**
     * The next waiting connection (non-blocking), or null when none is
     * waiting, or while paused (see {@see pausedUntil}).
     */
    public function accept(): ?\Socket
    {
        if ($this->socket === null || ($this->pausedUntil > 0.0 && microtime(true) < $this->pausedUntil)) {
            return null;
        }
        $client = @socket_accept($this->socket);
        if ($client === false) {
            // socket_accept() records its errno in the global error only.
            $error = socket_last_error($this->socket) ?: socket_last_error();
            socket_clear_error($this->socket);
            socket_clear_error();
            // EAGAIN: nothing (or another worker took it); ECONNABORTED: the
            // client left. Out of descriptors the connection stays queued and
            // the socket readable: without a pause, select() would return at
            // once, again and again (a spin), so accepting pauses, 5 ms first,
            // doubling up to 1 s, until an accept succeeds.
            if (\in_array($error, self::EXHAUSTED, true)) {
                $this->pause = $this->pause === 0.0 ? self::FIRST_PAUSE : min(self::MAX_PAUSE, $this->pause * 2);
                $this->pausedUntil = microtime(true) + $this->pause;
            } else {
                $this->pausedUntil = 0.0;   // nothing waiting: no reason to wake up early
            }
            return null;
        }
        $this->pause = 0.0;
        $this->pausedUntil = 0.0;
        socket_set_nonblock($client);
        return $client;
    }

    /**
     * When accepting may be tried again after running out of descriptors;
     * null when not paused. While paused the socket is left out of
     * select() (see {@see Acceptor::readStreams}) and the loop wakes at
     * this time instead.
     */
    public function pausedUntil(): ?float
    {
        if ($this->pausedUntil === 0.0 || $this->socket === null) {
            return null;
        }
        return $this->pausedUntil;
    }

    /** Stops listening (see the class comment); idempotent. */
    public function close(): void
    {
        if ($this->socket === null) {
            return;
        }
        if (!$this->unix) {
            @socket_shutdown($this->socket, 0);
        }
        if (\is_resource($this->stream)) {
            fclose($this->stream);
        }
        $this->socket = null;
    }
}
