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
     * A Request of keys only (MGet, Has, TTL, Delete): the same bytes as
     * request() with one-element items, without building them.
     *
     * @param list<string> $keys
     */
    public static function keys(string $storage, array $keys): string
    {
        $out = $storage === '' ? '' : "\x0a" . self::varint(\strlen($storage)) . $storage;
        foreach ($keys as $key) {
            $n = \strlen($key);
            if ($n === 0) {
                $out .= "\x12\x00";
            } elseif ($n < 0x7e) {
                // Both lengths fit in one varint byte.
                $out .= "\x12" . \chr($n + 2) . "\x0a" . \chr($n) . $key;
            } else {
                $body = "\x0a" . self::varint($n) . $key;
                $out .= "\x12" . self::varint(\strlen($body)) . $body;
            }
        }
        return $out;
    }

    /**
     * Parses a Response in place (offsets, no copies of the items): the
     * reply of every call is one, so this is the SDK's hot path.
     *
     * @return array<string, array{0: string, 1: string}> key => [value, timeout]
     */
    public static function response(string $bytes): array
    {
        $out = [];
        $pos = 0;
        $end = \strlen($bytes);
        while ($pos < $end) {
            $tag = \ord($bytes[$pos]);
            if ($tag !== 0x0a) {
                // Not an item (an unknown field): skipped by its wire type.
                self::next($bytes, $pos);
                continue;
            }
            $pos++;
            $len = self::length($bytes, $pos, $end);
            $stop = $pos + $len;
            $key = $val = $timeout = '';
            while ($pos < $stop) {
                $t = \ord($bytes[$pos]);
                if ($t !== 0x0a && $t !== 0x12 && $t !== 0x1a) {
                    self::next($bytes, $pos);
                    if ($pos > $stop) {
                        throw new KeyValueException('malformed kv.v1 reply: field past its item');
                    }
                    continue;
                }
                $pos++;
                $n = self::length($bytes, $pos, $stop);
                $v = substr($bytes, $pos, $n);
                $pos += $n;
                if ($t === 0x0a) {
                    $key = $v;
                } elseif ($t === 0x12) {
                    $val = $v;
                } else {
                    $timeout = $v;
                }
            }
            $out[$key] = [$val, $timeout];
        }
        return $out;
    }

    /**
     * A length-delimited field's length at `$pos` (advanced past it),
     * checked to end by `$limit`.
     */
    private static function length(string $b, int &$pos, int $limit): int
    {
        if ($pos >= $limit) {
            throw new KeyValueException('malformed kv.v1 reply: truncated field');
        }
        $n = \ord($b[$pos]);
        if ($n < 0x80) {
            $pos++;
        } else {
            $n = self::readVarint($b, $pos);
        }
        if ($n > $limit - $pos) {
            throw new KeyValueException('malformed kv.v1 reply: field longer than the message');
        }
        return $n;
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
