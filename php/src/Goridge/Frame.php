<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/**
 * One goridge frame: 12-byte header (version/length, flags, payload length,
 * CRC32 of bytes 0..5, stream byte), u32 options, payload. Byte-exact with
 * RoadRunner; the server verifies the CRC, so we always write a correct one.
 */
final class Frame
{
    public const CONTROL = 0x01;
    public const CODEC_RAW = 0x04;
    public const CODEC_JSON = 0x08;
    public const CODEC_MSGPACK = 0x10;
    public const CODEC_GOB = 0x20;
    public const ERROR = 0x40;
    public const CODEC_PROTO = 0x80;

    public const STREAM = 0x01;
    public const STOP = 0x02;
    public const PING = 0x04;
    public const PONG = 0x08;

    public const HEADER_LENGTH = 12;
    public const MAX_OPTIONS = 10;
    /** Largest payload accepted by default (matches the server's default). */
    public const DEFAULT_MAX_PAYLOAD = 1 << 30;

    /** @param list<int> $options */
    public function __construct(
        public string $payload = '',
        public int $flags = 0,
        public array $options = [],
        public int $stream = 0,
    ) {
    }

    public function hasFlag(int $flag): bool
    {
        return ($this->flags & $flag) !== 0;
    }

    public function hasStreamFlag(int $flag): bool
    {
        return ($this->stream & $flag) !== 0;
    }

    /** The wire bytes of this frame. */
    public function encode(): string
    {
        $count = \count($this->options);
        if ($count > self::MAX_OPTIONS) {
            throw new FrameException("a frame carries at most 10 options, got $count");
        }
        $head = pack('CCV', 0x10 | (3 + $count), $this->flags, \strlen($this->payload));
        $head .= pack('VCC', crc32($head), $this->stream, 0);
        if ($count > 0) {
            $head .= pack('V*', ...$this->options);
        }
        return $head . $this->payload;
    }

    /**
     * Validates a 12-byte header. Returns [flags, stream, option count,
     * payload length]; throws on a bad length nibble, CRC, version or size.
     *
     * @return array{int, int, int, int}
     */
    public static function parseHeader(string $head, int $maxPayload = self::DEFAULT_MAX_PAYLOAD): array
    {
        if (\strlen($head) !== self::HEADER_LENGTH) {
            throw new FrameException('a frame header is 12 bytes, got ' . \strlen($head));
        }
        $h = unpack('Cvl/Cflags/Vlen/Vcrc/Cstream', $head);
        $words = $h['vl'] & 0x0f;
        if ($words < 3 || $words > 13) {
            throw new FrameException("invalid header length: $words words (expected 3..13)");
        }
        if (crc32(substr($head, 0, 6)) !== $h['crc']) {
            throw new FrameException('header CRC mismatch: ' . bin2hex($head));
        }
        if (($h['vl'] >> 4) !== 1) {
            throw new FrameException('unsupported protocol version ' . ($h['vl'] >> 4));
        }
        if ($h['len'] > $maxPayload) {
            throw new FrameException("payload of {$h['len']} bytes exceeds the limit of $maxPayload");
        }
        return [$h['flags'], $h['stream'], $words - 3, $h['len']];
    }

    /** Decodes one whole frame from bytes (tests and tools). */
    public static function decode(string $bytes, int $maxPayload = self::DEFAULT_MAX_PAYLOAD): self
    {
        [$flags, $stream, $count, $len] = self::parseHeader(substr($bytes, 0, self::HEADER_LENGTH), $maxPayload);
        $need = self::HEADER_LENGTH + 4 * $count + $len;
        if (\strlen($bytes) < $need) {
            throw new FrameException("truncated frame: {$need} bytes needed, " . \strlen($bytes) . ' given');
        }
        $options = $count > 0 ? array_values(unpack("V$count", $bytes, self::HEADER_LENGTH)) : [];
        return new self(substr($bytes, self::HEADER_LENGTH + 4 * $count, $len), $flags, $options, $stream);
    }
}
