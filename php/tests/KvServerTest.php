<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/Yaml.php';
require_once __DIR__ . '/Support/Server.php';

use Coyote\KeyValue\Cache;
use Coyote\KeyValue\KeyValueException;
use Coyote\KeyValue\RawSerializer;
use Coyote\KeyValue\StorageException;
use Coyote\RPC\RPC;
use Coyote\RPC\ServiceException;
use Coyote\Tests\Support\Server;
use PHPUnit\Framework\TestCase;

/**
 * The KeyValue client against the real server: storage `mem` (memory) and
 * `red` (redis at COYOTE_TEST_REDIS, database 14, so Clear touches nothing
 * else). Expiry is waited for with a deadline, never a fixed sleep.
 */
final class KvServerTest extends TestCase
{
    private Server $server;

    protected function setUp(): void
    {
        $redis = getenv('COYOTE_TEST_REDIS') ?: '127.0.0.1:6379';
        $this->server = Server::start(static fn (string $log): array => [
            'version' => '3',
            'rpc' => ['listen' => 'tcp://127.0.0.1:0'],
            'kv' => [
                'mem' => ['driver' => 'memory'],
                'red' => ['driver' => 'redis', 'config' => ['addrs' => [$redis], 'db' => 14]],
            ],
        ]);
    }

    protected function tearDown(): void
    {
        if (isset($this->server)) {
            $this->server->stop();
        }
    }

    /** @return array<string, array{string}> */
    public static function storages(): array
    {
        return ['memory' => ['mem'], 'redis' => ['red']];
    }

    private function cache(string $name): Cache
    {
        $cache = Cache::create($name, $this->server->rpc);
        $cache->clear();
        return $cache;
    }

    /** @dataProvider storages */
    public function testGetSetHasDelete(string $storage): void
    {
        $cache = $this->cache($storage);
        self::assertFalse($cache->has('a'));
        self::assertSame('dflt', $cache->get('a', 'dflt'));
        self::assertTrue($cache->set('a', ['nested' => [1, 2.5, true, null]]));
        self::assertTrue($cache->has('a'));
        self::assertSame(['nested' => [1, 2.5, true, null]], $cache->get('a'));
        self::assertTrue($cache->set('f', false));
        self::assertFalse($cache->get('f', 'dflt'), 'a stored false is not a miss');
        self::assertTrue($cache->delete('a'));
        self::assertFalse($cache->has('a'));
        self::assertNull($cache->get('a'));
    }

    /** @dataProvider storages */
    public function testMultipleAndClear(string $storage): void
    {
        $cache = $this->cache($storage);
        self::assertTrue($cache->setMultiple(['x' => 1, 'y' => 'two', 'z' => 3.0]));
        self::assertSame(['x' => 1, 'nope' => 'd', 'y' => 'two'], $cache->getMultiple(['x', 'nope', 'y'], 'd'));
        self::assertTrue($cache->deleteMultiple(['x', 'y']));
        self::assertSame(['x' => null, 'z' => 3.0], $cache->getMultiple(['x', 'z']));
        self::assertSame([], $cache->getMultiple([]));
        self::assertTrue($cache->clear());
        self::assertFalse($cache->has('z'));
    }

    /** @dataProvider storages */
    public function testBinaryValuesRaw(string $storage): void
    {
        $raw = new Cache(RPC::create($this->server->rpc), $storage, new RawSerializer());
        $raw->clear();
        $bytes = random_bytes(4096) . "\0\r\n\xff";
        $big = str_repeat("\xa5\x00", 512 * 1024);
        $raw->setMultiple(['bin' => $bytes, 'big' => $big]);
        self::assertSame($bytes, $raw->get('bin'));
        self::assertSame($big, $raw->get('big'));
    }

    /** @dataProvider storages */
    public function testTtlAsSecondsAndDateInterval(string $storage): void
    {
        $cache = $this->cache($storage);
        $cache->set('forever', 1);
        self::assertNull($cache->getTtl('forever'));
        self::assertNull($cache->getTtl('missing'));
        $before = time();
        $cache->set('hour', 1, 3600);
        $ttl = $cache->getTtl('hour');
        self::assertInstanceOf(\DateTimeImmutable::class, $ttl);
        self::assertEqualsWithDelta($before + 3600, $ttl->getTimestamp(), 2);
        $cache->set('day', 1, new \DateInterval('P1D'));
        self::assertEqualsWithDelta($before + 86400, $cache->getTtl('day')?->getTimestamp() ?? 0, 2);
        // PSR-16: a TTL of zero or less deletes.
        $cache->set('hour', 2, 0);
        self::assertFalse($cache->has('hour'));
        $cache->set('day', 2, -5);
        self::assertFalse($cache->has('day'));
    }

    /** @dataProvider storages */
    public function testKeysExpire(string $storage): void
    {
        $cache = $this->cache($storage);
        $cache->set('brief', 'v', 1);
        $cache->set('stays', 'v');
        $this->server->waitFor(static fn (): bool => !$cache->has('brief'), 10.0, static fn (): string => 'brief to expire');
        self::assertTrue($cache->has('stays'));
    }

    public function testUnknownStorage(): void
    {
        $cache = Cache::create('nope', $this->server->rpc);
        try {
            $cache->get('a');
            self::fail('no exception');
        } catch (StorageException $e) {
            self::assertStringContainsString('"nope"', $e->getMessage());
            self::assertInstanceOf(ServiceException::class, $e->getPrevious());
            self::assertStringContainsString('no such storage: nope', $e->getPrevious()->getMessage());
        }
    }

    public function testServerErrorsBecomeKeyValueExceptions(): void
    {
        $cache = $this->cache('mem');
        try {
            $cache->set('  ', 'v');
            self::fail('no exception');
        } catch (KeyValueException $e) {
            self::assertStringContainsString("key can't be empty string", $e->getMessage());
        }
        try {
            $cache->set('huge', str_repeat('x', 16 * 1024 * 1024 + 1), null);
            self::fail('no exception');
        } catch (KeyValueException $e) {
            self::assertStringContainsString('the limit is', $e->getMessage());
        }
        $cache->set('after', 'ok');
        self::assertSame('ok', $cache->get('after'));
    }
}
