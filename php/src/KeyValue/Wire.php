<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

/**
 * kv.v1 Request / Response on the protobuf wire, written by hand: the
 * messages are three strings and a repeated message, and the generic
 * runtime (Debian's pure-PHP google/protobuf) costs 70-200 us per call,
 * more than a Redis round trip (bench/kv). Field numbers are those of
 * proto/kv.proto (Request{storage=1, items=2}, Item{key=1, value=2,
 * timeout=3}, Response{items=1}); the generated classes in src/Proto/KV
 * stay for users who want them, and WireTest checks both agree.
 */
final class Wire
{
    /**
     * @param list<array{0: string, 1?: string, 2?: string}> $items [key, value, timeout]
     */
    public static function request(string $storage, array $items): string
    {
        $out = $storage === '' ? '' : "\x0a" . self::varint(\strlen($storage)) . $storage;
        foreach ($items as $item) {
            $body = self::field(0x0a, $item[0]) . self::field(0x12, $item[1] ?? '') . self::field(0x1a, $item[2] ?? '');
            $out .= "\x12" . self::varint(\strlen($body)) . $body;
        }
        return $out;
    }

    /**
     * @return array<string, array{0: string, 1: string}> key => [value, timeout]
     */
    public static function response(string $bytes): array
    {
        $out = [];
        $pos = 0;
        $end = \strlen($bytes);
        while ($pos < $end) {
            [$tag, $value] = self::next($bytes, $pos);
            if ($tag !== 0x0a || $value === null) {
                continue;
            }
            $key = $val = $timeout = '';
            $p = 0;
            $n = \strlen($value);
            while ($p < $n) {
                [$t, $v] = self::next($value, $p);
                match ($t) {
                    0x0a => $key = (string) $v,
                    0x12 => $val = (string) $v,
                    0x1a => $timeout = (string) $v,
                    default => null,
                };
            }
            $out[$key] = [$val, $timeout];
        }
        return $out;
    }

    private static function field(string|int $tag, string $value): string
    {
        return $value === '' ? '' : \chr((int) $tag) . self::varint(\strlen($value)) . $value;
    }

    private static function varint(int $n): string
    {
        $out = '';
        while ($n > 0x7f) {
            $out .= \chr(($n & 0x7f) | 0x80);
            $n >>= 7;
        }
        return $out . \chr($n);
    }

    private static function readVarint(string $b, int &$pos): int
    {
        $n = 0;
        $shift = 0;
        $len = \strlen($b);
        do {
            if ($pos >= $len || $shift > 63) {
                throw new KeyValueException('malformed kv.v1 reply: truncated varint');
            }
            $byte = \ord($b[$pos++]);
            $n |= ($byte & 0x7f) << $shift;
            $shift += 7;
        } while ($byte & 0x80);
        return $n;
    }

    /**
     * The next field at `$pos`: [tag byte, bytes of a length-delimited
     * field or null for the other wire types, which are skipped].
     *
     * @return array{0: int, 1: ?string}
     */
    private static function next(string $b, int &$pos): array
    {
        $tag = self::readVarint($b, $pos);
        switch ($tag & 7) {
            case 0:
                self::readVarint($b, $pos);
                return [$tag, null];
            case 1:
                $pos += 8;
                return [$tag, null];
            case 5:
                $pos += 4;
                return [$tag, null];
            case 2:
                $len = self::readVarint($b, $pos);
                if ($len > \strlen($b) - $pos) {
                    throw new KeyValueException('malformed kv.v1 reply: field longer than the message');
                }
                $value = substr($b, $pos, $len);
                $pos += $len;
                return [$tag, $value];
            default:
                throw new KeyValueException("malformed kv.v1 reply: wire type " . ($tag & 7));
        }
    }
}
