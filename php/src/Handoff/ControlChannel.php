<?php

declare(strict_types=1);

namespace Coyote\Handoff;

use Coyote\Goridge\Frame;
use Coyote\Goridge\FrameException;

/**
 * The worker's end of the control socket (fd 3, AF_UNIX SOCK_SEQPACKET):
 * one goridge frame per message. Receiving never blocks (MSG_DONTWAIT; the
 * loop selects on stream()); reports are sent without blocking too and
 * queued when the socket is full (flush() when stream() is writable).
 *
 * ```php
 * $control = ControlChannel::fromFd(3);
 * $control->handshake();
 * while (true) {
 *     $read = [$control->stream()]; $write = $control->hasPending() ? [$control->stream()] : []; $except = null;
 *     stream_select($read, $write, $except, null);
 *     $control->flush();
 *     while (($message = $control->receive()) !== null) { ... }   // Connection or Stop
 * }
 * ```
 */
final class ControlChannel
{
    /** Largest control message read (a connection frame is ~150 bytes). */
    public const MAX_MESSAGE = 65536;
    /** Ids per report frame, as the spec allows. */
    public const MAX_IDS = 4096;

    /** @var list<string> encoded frames waiting for room in the socket */
    private array $pending = [];
    private bool $handshaken = false;

    /**
     * @param resource|null $stream a stream on the same descriptor, for
     *        stream_select (exported from the socket when null)
     */
    public function __construct(
        private \Socket $socket,
        private mixed $stream = null,
        private Mode $mode = Mode::FdPassing,
        private string $listener = '',
    ) {
        if ($this->stream === null) {
            $stream = socket_export_stream($socket);
            if ($stream === false) {
                throw new HandoffException('cannot export the control socket as a stream');
            }
            $this->stream = $stream;
        }
        $type = socket_get_option($socket, \SOL_SOCKET, \SO_TYPE);
        if ($type !== \SOCK_SEQPACKET) {
            throw new HandoffException("the control socket is not SOCK_SEQPACKET (SO_TYPE $type)");
        }
    }

    /**
     * The control socket inherited as descriptor $fd (3, COYOTE_HANDOFF_FD).
     * php://fd/N dup()s the descriptor; socket_import_stream() turns the
     * duplicate into a Socket for socket_recvmsg (SCM_RIGHTS).
     */
    public static function fromFd(int $fd = 3, Mode $mode = Mode::FdPassing, string $listener = ''): self
    {
        $stream = @fopen("php://fd/$fd", 'r+');
        if ($stream === false) {
            throw new HandoffException("descriptor $fd is not open: not started by Coyote's handoff plugin?");
        }
        $socket = @socket_import_stream($stream);
        if ($socket === false) {
            throw new HandoffException("descriptor $fd is not a socket");
        }
        return new self($socket, $stream, $mode, $listener);
    }

    /** @return resource the descriptor as a stream, for stream_select */
    public function stream(): mixed
    {
        return $this->stream;
    }

    public function socket(): \Socket
    {
        return $this->socket;
    }

    /**
     * Waits for Coyote's `{"pid":N}` and answers with this process' pid.
     * Returns Coyote's pid.
     */
    public function handshake(float $timeout = 60.0): int
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $bytes = $this->receiveMessage($fds);
            if ($bytes === null) {
                $left = $deadline - microtime(true);
                if ($left <= 0) {
                    throw new HandoffException(sprintf('no handshake from Coyote within %.1fs', $timeout));
                }
                $read = [$this->stream];
                $write = $except = null;
                @stream_select($read, $write, $except, (int) $left, (int) (fmod($left, 1.0) * 1e6));
                continue;
            }
            self::closeAll($fds);
            if ($bytes === '') {
                throw new HandoffException('the control socket closed before the handshake');
            }
            $frame = $this->decode($bytes);
            $data = $this->json($frame);
            if (!$frame->hasFlag(Frame::CONTROL) || !isset($data['pid']) || !\is_int($data['pid'])) {
                throw new HandoffException('expected the pid handshake, got: ' . self::excerpt($frame->payload));
            }
            $this->send(new Frame((string) json_encode(['pid' => getmypid()]), Frame::CONTROL));
            $this->handshaken = true;
            return $data['pid'];
        }
    }

    /**
     * The next control message, or null when none is waiting (never
     * blocks): a passed Connection (fd_passing) or a Stop. A hang-up of
     * the control socket is a Stop with `eof`.
     *
     * @throws HandoffException on a malformed message
     */
    public function receive(): Connection|Stop|null
    {
        $bytes = $this->receiveMessage($fds);
        if ($bytes === null) {
            return null;
        }
        if ($bytes === '') {
            self::closeAll($fds);
            return new Stop(true);
        }
        try {
            $frame = $this->decode($bytes);
            $data = $this->json($frame);
            if ($frame->hasFlag(Frame::CONTROL)) {
                if (!empty($data['stop'])) {
                    if ($fds !== []) {
                        throw new HandoffException('the stop frame carries descriptors');
                    }
                    return new Stop();
                }
                if (isset($data['pid'])) {
                    // A repeated handshake: answer again (harmless).
                    $this->send(new Frame((string) json_encode(['pid' => getmypid()]), Frame::CONTROL));
                    return $this->receive();
                }
                throw new HandoffException('unknown control frame: ' . self::excerpt($frame->payload));
            }
            if (!$this->handshaken) {
                throw new HandoffException('a connection frame before the handshake');
            }
            return $this->connection($data, $fds);
        } catch (\Throwable $e) {
            self::closeAll($fds);
            throw $e;
        }
    }

    /**
     * Reports to Coyote: closed connection ids (fd_passing) and/or the open
     * and accepted counts (reuseport). Never blocks: what does not fit is
     * queued for flush().
     *
     * @param list<int> $closed
     */
    public function report(array $closed = [], ?int $open = null, ?int $accepted = null): void
    {
        $chunks = $closed === [] ? [[]] : array_chunk($closed, self::MAX_IDS);
        foreach ($chunks as $i => $ids) {
            $data = [];
            if ($ids !== []) {
                $data['closed'] = $ids;
            }
            if ($i === 0 && $open !== null) {
                $data['open'] = $open;
                $data['accepted'] = $accepted ?? 0;
            }
            if ($data !== []) {
                $this->send(new Frame((string) json_encode($data), Frame::CODEC_JSON));
            }
        }
    }

    /** True while reports wait for room: select stream() for writing, then flush(). */
    public function hasPending(): bool
    {
        return $this->pending !== [];
    }

    /** Sends what report() queued, as far as the socket takes it. */
    public function flush(): void
    {
        while ($this->pending !== []) {
            $bytes = $this->pending[0];
            $sent = @socket_send($this->socket, $bytes, \strlen($bytes), \MSG_DONTWAIT);
            if ($sent === false) {
                $error = $this->lastError();
                if ($error === \SOCKET_EAGAIN || $error === \SOCKET_EINTR) {
                    return;
                }
                throw new HandoffException('cannot write to the control socket: ' . socket_strerror($error));
            }
            array_shift($this->pending);
        }
    }

    /** Sends everything queued, waiting up to $timeout seconds (at exit). */
    public function drain(float $timeout = 5.0): void
    {
        $deadline = microtime(true) + $timeout;
        $this->flush();
        while ($this->pending !== [] && ($left = $deadline - microtime(true)) > 0) {
            $read = $except = null;
            $write = [$this->stream];
            @stream_select($read, $write, $except, (int) $left, (int) (fmod($left, 1.0) * 1e6));
            $this->flush();
        }
    }

    private function send(Frame $frame): void
    {
        $this->pending[] = $frame->encode();
        $this->flush();
    }

    /**
     * One message: its bytes ('' at EOF), or null when nothing is waiting;
     * $fds gets the descriptors attached to it.
     *
     * @param list<\Socket|resource> $fds
     */
    private function receiveMessage(?array &$fds): ?string
    {
        $fds = [];
        $message = [
            'name' => [],
            'buffer_size' => self::MAX_MESSAGE,
            'controllen' => socket_cmsg_space(\SOL_SOCKET, \SCM_RIGHTS, 4),
        ];
        $n = @socket_recvmsg($this->socket, $message, \MSG_DONTWAIT);
        if ($n === false) {
            $error = $this->lastError();
            if ($error === \SOCKET_EAGAIN || $error === \SOCKET_EINTR) {
                return null;
            }
            throw new HandoffException('cannot read the control socket: ' . socket_strerror($error));
        }
        foreach ($message['control'] ?? [] as $cmsg) {
            if (($cmsg['level'] ?? null) === \SOL_SOCKET && ($cmsg['type'] ?? null) === \SCM_RIGHTS) {
                foreach ($cmsg['data'] ?? [] as $fd) {
                    $fds[] = $fd;
                }
            }
        }
        $flags = $message['flags'] ?? 0;
        if (($flags & \MSG_TRUNC) !== 0) {
            self::closeAll($fds);
            throw new HandoffException('a control message longer than ' . self::MAX_MESSAGE . ' bytes');
        }
        if (($flags & \MSG_CTRUNC) !== 0) {
            self::closeAll($fds);
            throw new HandoffException('a control message with more descriptors than expected');
        }
        if ($n === 0 && $fds === []) {
            return '';
        }
        return (string) ($message['iov'][0] ?? '');
    }

    /**
     * The error of the last failed call, cleared. socket_recvmsg() (PHP
     * 8.2) records its errno only in the global socket_last_error().
     */
    private function lastError(): int
    {
        $error = socket_last_error($this->socket) ?: socket_last_error();
        socket_clear_error($this->socket);
        socket_clear_error();
        return $error;
    }

    private function decode(string $bytes): Frame
    {
        if (\strlen($bytes) < Frame::HEADER_LENGTH) {
            throw new HandoffException('a short control message (' . \strlen($bytes) . ' bytes): ' . bin2hex($bytes));
        }
        try {
            $frame = Frame::decode($bytes, self::MAX_MESSAGE);
        } catch (FrameException $e) {
            throw new HandoffException('a malformed control frame: ' . $e->getMessage(), 0, $e);
        }
        $length = Frame::HEADER_LENGTH + 4 * \count($frame->options) + \strlen($frame->payload);
        if ($length !== \strlen($bytes)) {
            throw new HandoffException('a control message with ' . (\strlen($bytes) - $length) . ' bytes after its frame');
        }
        return $frame;
    }

    /** @return array<mixed> */
    private function json(Frame $frame): array
    {
        $data = json_decode($frame->payload, true);
        if (!\is_array($data) || array_is_list($data) && $data !== []) {
            throw new HandoffException('a control frame that is not a JSON object: ' . self::excerpt($frame->payload));
        }
        return $data;
    }

    /**
     * @param array<mixed> $data
     * @param list<\Socket|resource> $fds
     */
    private function connection(array $data, array $fds): Connection
    {
        if (!isset($data['id']) || !\is_int($data['id'])) {
            throw new HandoffException('a connection frame without an integer id: ' . json_encode($data));
        }
        $id = $data['id'];
        if (\count($fds) !== 1) {
            throw new HandoffException("connection $id carries " . \count($fds) . ' descriptors, expected exactly one');
        }
        $socket = $fds[0];
        if (!$socket instanceof \Socket) {
            // socket_recvmsg() gives a Socket for socket descriptors, a plain
            // stream for anything else.
            throw new HandoffException("connection $id: the passed descriptor is not a socket");
        }
        socket_set_nonblock($socket);
        return new Connection($socket, new ConnectionMeta(
            $id,
            \is_string($data['peer'] ?? null) ? $data['peer'] : '',
            \is_string($data['local'] ?? null) ? $data['local'] : '',
            \is_string($data['listener'] ?? null) ? $data['listener'] : $this->listener,
            $this->mode,
        ));
    }

    /** @param list<\Socket|resource> $fds */
    private static function closeAll(array $fds): void
    {
        foreach ($fds as $fd) {
            if ($fd instanceof \Socket) {
                socket_close($fd);
            } elseif (\is_resource($fd)) {
                fclose($fd);
            }
        }
    }

    private static function excerpt(string $payload): string
    {
        return \strlen($payload) > 200 ? substr($payload, 0, 200) . '...' : $payload;
    }
}
