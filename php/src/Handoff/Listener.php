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
    private ?\Socket $socket;
    private bool $unix;

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

    /** The next waiting connection (non-blocking), or null when none is waiting. */
    public function accept(): ?\Socket
    {
        if ($this->socket === null) {
            return null;
        }
        $client = @socket_accept($this->socket);
        if ($client === false) {
            socket_clear_error($this->socket);
            socket_clear_error();
            // EAGAIN: nothing (or another worker took it); ECONNABORTED: the
            // client left; EMFILE/ENFILE/ENOBUFS: retried on the next turn.
            return null;
        }
        socket_set_nonblock($client);
        return $client;
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
