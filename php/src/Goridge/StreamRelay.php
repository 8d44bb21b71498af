<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/**
 * Frames over PHP streams: the process's STDIN/STDOUT (pipes) or a socket
 * from stream_socket_client (tcp / unix). Reads loop until exact lengths
 * because pipes and sockets return short reads.
 *
 * A socket relay (an RPC client, one call at a time) reads into its own
 * buffer, up to 64 KiB at once with PHP's stream buffer off: one answer
 * is one poll + one recv, however it is split into header and payload.
 * TCP sockets get TCP_NODELAY through the stream context.
 */
final class StreamRelay implements Relay
{
    /** Bytes asked of a socket per read. */
    private const READ_CHUNK = 65536;

    /** Bytes read from a socket relay and not yet returned as frames. */
    private string $buffer = '';

    /**
     * @param resource $in
     * @param resource $out
     * @param bool $socket read through the relay's own buffer (create() sets it for tcp/unix)
     */
    public function __construct(
        private $in,
        private $out,
        private int $maxPayload = Frame::DEFAULT_MAX_PAYLOAD,
        private bool $socket = false,
    ) {
    }

    /**
     * Parses RR_RELAY: `pipes` (default), `tcp://host:port`, `unix:///path`.
     */
    public static function create(string $address): self
    {
        $address = trim($address);
        if ($address === '' || $address === 'pipes' || $address === 'pipes://stdin:stdout') {
            return new self(\STDIN, \STDOUT);
        }
        if (preg_match('#^(tcp|unix)://(.+)$#', $address, $m) !== 1) {
            throw new \InvalidArgumentException("unsupported relay address: $address");
        }
        $errno = 0;
        $error = '';
        $context = stream_context_create(['socket' => ['tcp_nodelay' => true]]);
        $socket = @stream_socket_client($address, $errno, $error, 10.0, \STREAM_CLIENT_CONNECT, $context);
        if ($socket === false) {
            throw new \RuntimeException("cannot connect to relay $address: $error ($errno)");
        }
        stream_set_timeout($socket, 86400 * 365);
        // Our own buffer replaces PHP's (which would read 8 KiB at a time).
        stream_set_read_buffer($socket, 0);
        return new self($socket, $socket, Frame::DEFAULT_MAX_PAYLOAD, true);
    }

    public function send(Frame $frame): void
    {
        $bytes = $frame->encode();
        $len = \strlen($bytes);
        $written = fwrite($this->out, $bytes);
        while ($written !== false && $written < $len) {
            $more = fwrite($this->out, substr($bytes, $written));
            if ($more === false || $more === 0) {
                $written = false;
                break;
            }
            $written += $more;
        }
        if ($written === false) {
            throw new FrameException('cannot write to the relay (server gone?)');
        }
        fflush($this->out);
    }

    public function receive(): Frame
    {
        if ($this->socket) {
            return $this->receiveBuffered();
        }
        [$flags, $stream, $count, $len] = Frame::parseHeader($this->read(Frame::HEADER_LENGTH), $this->maxPayload);
        $rest = $this->read(4 * $count + $len);
        $options = $count > 0 ? array_values(unpack("V$count", $rest)) : [];
        return new Frame($count > 0 ? substr($rest, 4 * $count) : $rest, $flags, $options, $stream);
    }

    public function hasPending(): bool
    {
        if ($this->buffer !== '') {
            return true;
        }
        $read = [$this->in];
        $write = null;
        $except = null;
        return @stream_select($read, $write, $except, 0) > 0;
    }

    private function receiveBuffered(): Frame
    {
        $this->fill(Frame::HEADER_LENGTH);
        [$flags, $stream, $count, $len] = Frame::parseHeader(substr($this->buffer, 0, Frame::HEADER_LENGTH), $this->maxPayload);
        $total = Frame::HEADER_LENGTH + 4 * $count + $len;
        $this->fill($total);
        $options = $count > 0 ? array_values(unpack("V$count", $this->buffer, Frame::HEADER_LENGTH)) : [];
        $payload = substr($this->buffer, Frame::HEADER_LENGTH + 4 * $count, $len);
        $this->buffer = \strlen($this->buffer) === $total ? '' : substr($this->buffer, $total);
        return new Frame($payload, $flags, $options, $stream);
    }

    /** Reads until the buffer holds at least `$length` bytes. */
    private function fill(int $length): void
    {
        while (\strlen($this->buffer) < $length) {
            $more = fread($this->in, max(self::READ_CHUNK, $length - \strlen($this->buffer)));
            if ($more === false || $more === '') {
                if ($this->buffer === '' && $length === Frame::HEADER_LENGTH) {
                    throw new RelayClosedException('the server closed the relay');
                }
                throw new FrameException('relay closed inside a frame (' . \strlen($this->buffer) . " of $length bytes)");
            }
            $this->buffer .= $more;
        }
    }

    private function read(int $length): string
    {
        if ($length === 0) {
            return '';
        }
        // fread() of a large remainder maps a buffer of the whole length for
        // each pipe-sized read (~8 KiB): a 16 MiB frame cost ~2,000 reads and
        // ~12,000 mmap/munmap/mremap calls (66-106 ms); stream_get_contents()
        // grows one buffer (18 ms). Small frames keep the single fread().
        $data = $length > self::READ_CHUNK
            ? stream_get_contents($this->in, $length)
            : fread($this->in, $length);
        if ($data === false) {
            throw new FrameException('cannot read from the relay');
        }
        while (\strlen($data) < $length) {
            $more = fread($this->in, $length - \strlen($data));
            if ($more === false || ($more === '' && feof($this->in))) {
                if ($data === '' && $length === Frame::HEADER_LENGTH) {
                    throw new RelayClosedException('the server closed the relay');
                }
                throw new FrameException('relay closed inside a frame (' . \strlen($data) . " of $length bytes)");
            }
            $data .= $more;
        }
        return $data;
    }
}
