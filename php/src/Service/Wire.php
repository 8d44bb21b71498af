<?php

declare(strict_types=1);

namespace Coyote\Service;

/**
 * service.v1 messages on the protobuf wire, written by hand: protoc is not
 * available here to generate classes, and the messages are small. Field
 * numbers are roadrunner-server/api's proto/service/v1/service.proto:
 * Create{name=1, command=2, int64 process_num=3, int64 exec_timeout=4, bool
 * remain_after_exit=5, map<string,string> env=6, uint64 restart_sec=7, bool
 * service_name_in_logs=8, uint64 timeout_stop_sec=9}, Service{name=1},
 * Response{message=1, bool ok=2}, List{repeated services=1},
 * Statuses{repeated Status status=1}, Status{float cpu_percent=1, int32
 * pid=2, uint64 memory_usage=3, command=4, common.v1.Status status=5},
 * common.v1.Status{int32 code=1, message=2, repeated Any details=3},
 * Any{type_url=1, bytes value=2}. ServiceWireTest checks these bytes against
 * the ones the server's encoder produces.
 */
final class Wire
{
    /** @param array<string, string> $env */
    public static function create(
        string $name,
        string $command,
        int $processNum,
        int $execTimeout,
        bool $remainAfterExit,
        array $env,
        int $restartSec,
        bool $serviceNameInLogs,
        int $stopTimeout,
    ): string {
        ksort($env, \SORT_STRING);
        $out = self::bytes(1, $name) . self::bytes(2, $command)
            . self::int(3, $processNum) . self::int(4, $execTimeout) . self::int(5, (int) $remainAfterExit);
        foreach ($env as $key => $value) {
            $out .= self::message(6, self::bytes(1, (string) $key) . self::bytes(2, (string) $value));
        }
        return $out . self::int(7, $restartSec) . self::int(8, (int) $serviceNameInLogs) . self::int(9, $stopTimeout);
    }

    public static function service(string $name): string
    {
        return self::bytes(1, $name);
    }

    public static function ok(string $bytes): bool
    {
        $ok = false;
        foreach (self::fields($bytes) as [$field, $value]) {
            if ($field === 2) {
                $ok = $value !== 0;
            }
        }
        return $ok;
    }

    /** @return list<string> */
    public static function names(string $bytes): array
    {
        $out = [];
        foreach (self::fields($bytes) as [$field, $value]) {
            if ($field === 1) {
                $out[] = (string) $value;
            }
        }
        return $out;
    }

    /** @return list<array<string, mixed>> one status per process */
    public static function statuses(string $bytes): array
    {
        $out = [];
        foreach (self::fields($bytes) as [$field, $value]) {
            if ($field === 1) {
                $out[] = self::status((string) $value);
            }
        }
        return $out;
    }

    /**
     * @return array{cpu_percent: float, pid: int, memory_usage: int, command: string,
     *     error: ?array{code: int, message: string, details: list<array{message: string, type_url: string}>}}
     */
    public static function status(string $bytes): array
    {
        $status = ['cpu_percent' => 0.0, 'pid' => 0, 'memory_usage' => 0, 'command' => '', 'error' => null];
        foreach (self::fields($bytes) as [$field, $value]) {
            match ($field) {
                1 => $status['cpu_percent'] = (float) $value,
                2 => $status['pid'] = self::int32((int) $value),
                3 => $status['memory_usage'] = (int) $value,
                4 => $status['command'] = (string) $value,
                5 => $status['error'] = self::error((string) $value),
                default => null,
            };
        }
        return $status;
    }

    /** @return array{code: int, message: string, details: list<array{message: string, type_url: string}>} */
    private static function error(string $bytes): array
    {
        $error = ['code' => 0, 'message' => '', 'details' => []];
        foreach (self::fields($bytes) as [$field, $value]) {
            if ($field === 1) {
                $error['code'] = self::int32((int) $value);
            } elseif ($field === 2) {
                $error['message'] = (string) $value;
            } elseif ($field === 3) {
                $any = ['message' => '', 'type_url' => ''];
                foreach (self::fields((string) $value) as [$f, $v]) {
                    if ($f === 1) {
                        $any['type_url'] = (string) $v;
                    } elseif ($f === 2) {
                        $any['message'] = (string) $v;
                    }
                }
                $error['details'][] = $any;
            }
        }
        return $error;
    }

    private static function bytes(int $field, string $value): string
    {
        return $value === '' ? '' : self::varint($field << 3 | 2) . self::varint(\strlen($value)) . $value;
    }

    private static function message(int $field, string $body): string
    {
        return self::varint($field << 3 | 2) . self::varint(\strlen($body)) . $body;
    }

    private static function int(int $field, int $value): string
    {
        return $value === 0 ? '' : self::varint($field << 3) . self::varint($value);
    }

    /** A varint; a negative int is its 64-bit two's complement (10 bytes). */
    private static function varint(int $n): string
    {
        $out = '';
        do {
            $byte = $n & 0x7f;
            // A logical shift: PHP's >> keeps the sign.
            $n = ($n >> 7) & (\PHP_INT_MAX >> 6);
            $out .= \chr($n === 0 ? $byte : $byte | 0x80);
        } while ($n !== 0);
        return $out;
    }

    /** An int32 sent as a (sign-extended) 64-bit varint. */
    private static function int32(int $n): int
    {
        $n &= 0xffffffff;
        return $n >= 0x80000000 ? $n - 0x100000000 : $n;
    }

    private static function readVarint(string $b, int &$pos): int
    {
        $n = 0;
        $shift = 0;
        $len = \strlen($b);
        do {
            if ($pos >= $len || $shift > 63) {
                throw new ServiceException('malformed service.v1 answer: truncated varint');
            }
            $byte = \ord($b[$pos++]);
            $n |= ($byte & 0x7f) << $shift;
            $shift += 7;
        } while ($byte & 0x80);
        return $n;
    }

    /**
     * The fields of a message: [number, value], the value an int (varint),
     * a float (fixed32), a string (length-delimited) or null (fixed64).
     *
     * @return \Generator<array{0: int, 1: int|float|string|null}>
     */
    private static function fields(string $b): \Generator
    {
        $pos = 0;
        $end = \strlen($b);
        while ($pos < $end) {
            $tag = self::readVarint($b, $pos);
            $field = $tag >> 3;
            switch ($tag & 7) {
                case 0:
                    yield [$field, self::readVarint($b, $pos)];
                    break;
                case 1:
                    $pos += 8;
                    yield [$field, null];
                    break;
                case 5:
                    if ($pos + 4 > $end) {
                        throw new ServiceException('malformed service.v1 answer: truncated fixed32');
                    }
                    yield [$field, unpack('g', substr($b, $pos, 4))[1]];
                    $pos += 4;
                    break;
                case 2:
                    $len = self::readVarint($b, $pos);
                    if ($len > $end - $pos) {
                        throw new ServiceException('malformed service.v1 answer: field longer than the message');
                    }
                    yield [$field, substr($b, $pos, $len)];
                    $pos += $len;
                    break;
                default:
                    throw new ServiceException('malformed service.v1 answer: wire type ' . ($tag & 7));
            }
        }
    }
}
