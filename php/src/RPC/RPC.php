<?php

declare(strict_types=1);

namespace Coyote\RPC;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;

/**
 * A goridge RPC client: `Service.Method` calls over the relay named by
 * RR_RPC (default tcp://127.0.0.1:6001), JSON by default. One call in
 * flight at a time; the answer's seq is checked like spiral/goridge does.
 */
final class RPC
{
    private static int $seq = 1;

    public function __construct(private StreamRelay $relay, private string $prefix = '')
    {
    }

    /** A client for RR_RPC from the environment. */
    public static function create(?string $address = null): self
    {
        $address ??= getenv('RR_RPC') ?: 'tcp://127.0.0.1:6001';
        return new self(StreamRelay::create($address));
    }

    /** The same connection, with `Service.` put before method names. */
    public function withServicePrefix(string $service): self
    {
        return new self($this->relay, $service);
    }

    /**
     * Calls a method with a JSON-encoded argument and returns the decoded
     * result.
     *
     * @throws ServiceException when the server answers with an error
     */
    public function call(string $method, mixed $payload): mixed
    {
        $raw = $this->callRaw($method, json_encode($payload, \JSON_THROW_ON_ERROR), Frame::CODEC_JSON);
        return json_decode($raw, true, 512, \JSON_THROW_ON_ERROR);
    }

    /**
     * Calls a method with a protobuf argument (CODEC_PROTO) and decodes the
     * result into `$result` (google/protobuf, Debian's php-google-protobuf).
     *
     * @template T of \Google\Protobuf\Internal\Message
     * @param T $result
     * @return T
     */
    public function callProto(string $method, \Google\Protobuf\Internal\Message $payload, \Google\Protobuf\Internal\Message $result): \Google\Protobuf\Internal\Message
    {
        $raw = $this->callRaw($method, $payload->serializeToString(), Frame::CODEC_PROTO);
        $result->mergeFromString($raw);
        return $result;
    }

    /** Calls a method with an already encoded argument; returns the raw result. */
    public function callRaw(string $method, string $body, int $codec = Frame::CODEC_RAW): string
    {
        if ($this->prefix !== '') {
            $method = $this->prefix . '.' . ucfirst($method);
        }
        $seq = self::$seq;
        $this->relay->send(new Frame($method . $body, $codec, [$seq, \strlen($method)]));
        $answer = $this->relay->receive();
        if (\count($answer->options) !== 2) {
            throw new \RuntimeException('invalid RPC answer: expected 2 options');
        }
        if ($answer->options[0] !== $seq) {
            throw new \RuntimeException("invalid RPC answer: seq {$answer->options[0]}, expected $seq");
        }
        self::$seq++;
        $result = substr($answer->payload, $answer->options[1]);
        if ($answer->hasFlag(Frame::ERROR)) {
            throw new ServiceException("Error '$result' on $method");
        }
        return $result;
    }
}
