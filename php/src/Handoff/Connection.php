<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * One client connection owned by this worker: the socket, the same
 * descriptor as a stream (fread/fwrite/stream_select) and its meta.
 * close() shuts it down both ways (the client sees the end even while
 * Coyote still holds its copy of the descriptor) and closes it.
 */
final class Connection
{
    /** @var resource */
    public readonly mixed $stream;
    private bool $closed = false;

    public function __construct(private ?\Socket $socket, public readonly ConnectionMeta $meta)
    {
        $stream = socket_export_stream($socket);
        if ($stream === false) {
            throw new HandoffException("connection {$meta->id}: cannot export the socket as a stream");
        }
        $this->stream = $stream;
    }

    public function id(): int
    {
        return $this->meta->id;
    }

    public function socket(): \Socket
    {
        if ($this->socket === null) {
            throw new \LogicException("connection {$this->meta->id} is closed");
        }
        return $this->socket;
    }

    public function isClosed(): bool
    {
        return $this->closed;
    }

    /** shutdown(SHUT_RDWR) then close; idempotent. */
    public function close(): void
    {
        if ($this->closed) {
            return;
        }
        $this->closed = true;
        if ($this->socket !== null) {
            @socket_shutdown($this->socket, 2);
        }
        if (\is_resource($this->stream)) {
            fclose($this->stream);
        }
        $this->socket = null;
    }
}
