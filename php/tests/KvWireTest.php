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

    public function testMalformedRepliesRaise(): void
    {
        $this->expectException(KeyValueException::class);
        Wire::response("\x0a\x7f" . 'short');
    }
}
