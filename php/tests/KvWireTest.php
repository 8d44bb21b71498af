<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\KeyValue\KeyValueException;
use Coyote\KeyValue\Wire;
use Coyote\Proto\KV\Item;
use Coyote\Proto\KV\Request;
use Coyote\Proto\KV\Response;
use PHPUnit\Framework\TestCase;

/** The hand-written kv.v1 codec against the generated protobuf classes. */
final class KvWireTest extends TestCase
{
    public function testRequestBytesParseAsTheGeneratedMessage(): void
    {
        $big = random_bytes(70000) . "\0";
        $bytes = Wire::request('cache', [['a'], ['b', $big, '2030-01-01T00:00:00Z'], ['', '', '']]);
        $r = new Request();
        $r->mergeFromString($bytes);
        self::assertSame('cache', $r->getStorage());
        self::assertCount(3, $r->getItems());
        self::assertSame('a', $r->getItems()[0]->getKey());
        self::assertSame($big, $r->getItems()[1]->getValue());
        self::assertSame('2030-01-01T00:00:00Z', $r->getItems()[1]->getTimeout());
        self::assertSame('', $r->getItems()[2]->getKey());
        // The generated message encodes to the same bytes.
        self::assertSame($r->serializeToString(), $bytes);
    }

    public function testResponsesFromTheGeneratedMessage(): void
    {
        $value = "\xff\x00" . str_repeat('x', 300);
        $bytes = (new Response(['items' => [
            new Item(['key' => 'k1', 'value' => $value]),
            new Item(['key' => 'k2', 'timeout' => '2030-01-01T00:00:00Z']),
        ]]))->serializeToString();
        self::assertSame(['k1' => [$value, ''], 'k2' => ['', '2030-01-01T00:00:00Z']], Wire::response($bytes));
        self::assertSame([], Wire::response(''));
    }

    public function testKeysRequestsAreTheGeneratedBytes(): void
    {
        // Lengths around the one-byte varint limits of key and item.
        $keys = ['', 'a', str_repeat('k', 125), str_repeat('k', 126), str_repeat('k', 127), str_repeat('k', 200), str_repeat('k', 70000)];
        $r = new Request(['storage' => 'cache', 'items' => array_map(static fn (string $k): Item => new Item(['key' => $k]), $keys)]);
        $bytes = Wire::keys('cache', $keys);
        self::assertSame(bin2hex($r->serializeToString()), bin2hex($bytes));
        self::assertSame(Wire::request('cache', array_map(static fn (string $k): array => [$k], $keys)), $bytes);
        self::assertSame('', Wire::keys('', []));
    }

    public function testResponsesWithUnknownFieldsAndLongLengths(): void
    {
        $value = str_repeat('v', 300);
        $item = (new Item(['key' => 'k', 'value' => $value, 'timeout' => 't']))->serializeToString();
        // An unknown varint field (9) inside the item and one beside it.
        $len = \strlen($item) + 2;
        self::assertGreaterThan(127, $len);
        $varint = \chr(($len & 0x7f) | 0x80) . \chr($len >> 7);
        $bytes = "\x0a" . $varint . $item . "\x48\x05" . "\x48\x96\x01";
        self::assertSame(['k' => [$value, 't']], Wire::response($bytes));
    }

    /** @return iterable<string, array{string}> */
    public static function malformed(): iterable
    {
        yield 'item longer than the reply' => ["\x0a\x7f" . 'short'];
        yield 'field longer than its item' => ["\x0a\x03\x0a\x05abc"];
        yield 'truncated length' => ["\x0a"];
        yield 'truncated varint' => ["\x0a\x80"];
        yield 'unknown field past its item' => ["\x0a\x01\x48\x96\x01"];
        yield 'bad wire type' => ["\x0f"];
    }

    /** @dataProvider malformed */
    public function testMalformedRepliesRaise(string $bytes): void
    {
        $this->expectException(KeyValueException::class);
        Wire::response($bytes);
    }
}
