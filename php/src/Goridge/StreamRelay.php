<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/**
 * Frames over PHP streams: the process's STDIN/STDOUT (pipes) or a socket
 * from stream_socket_client (tcp / unix). Reads loop until exact lengths
 * because pipes and sockets return short reads.
 */
final class StreamRelay implements Relay
{
    /**
     * @param resource $in
     * @param resource $out
     */
    public function __construct(
        private $in,
        private $out,
        private int $maxPayload = Frame::DEFAULT_MAX_PAYLOAD,
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
        $socket = @stream_socket_client($address, $errno, $error, 10.0);
        if ($socket === false) {
            throw new \RuntimeException("cannot connect to relay $address: $error ($errno)");
        }
        stream_set_timeout($socket, 86400 * 365);
        if ($m[1] === 'tcp' && \function_exists('socket_import_stream')) {
            $raw = @socket_import_stream($socket);
            if ($raw !== false && $raw !== null) {
                @socket_set_option($raw, \SOL_TCP, \TCP_NODELAY, 1);
            }
        }
        return new self($socket, $socket);
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
        [$flags, $stream, $count, $len] = Frame::parseHeader($this->read(Frame::HEADER_LENGTH), $this->maxPayload);
        $rest = $this->read(4 * $count + $len);
        $options = $count > 0 ? array_values(unpack("V$count", $rest)) : [];
        return new Frame($count > 0 ? substr($rest, 4 * $count) : $rest, $flags, $options, $stream);
    }

    public function hasPending(): bool
    {
        $read = [$this->in];
        $write = null;
        $except = null;
        return @stream_select($read, $write, $except, 0) > 0;
    }

    private function read(int $length): string
    {
        if ($length === 0) {
            return '';
        }
        $data = fread($this->in, $length);
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
