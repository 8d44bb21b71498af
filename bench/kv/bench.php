<?php

declare(strict_types=1);

/*
 * kv benchmark client: Set, Get and MGet(10) from PHP, one call at a time
 * on one connection, through Coyote's kv RPC (the SDK's Cache with the raw
 * serializer) for each storage named on the command line, and straight to
 * Redis with php-redis. Prints one line per target and operation:
 *   <target> <op> ops_per_sec=N p50_us=N p99_us=N
 * Usage: php bench.php RPC_ADDRESS REDIS_HOST:PORT REDIS_DB N STORAGE...
 */

require __DIR__ . '/../../php/autoload.php';

use Coyote\KeyValue\Cache;
use Coyote\KeyValue\RawSerializer;
use Coyote\RPC\RPC;

[$_, $rpcAddress, $redisAddress, $redisDb, $n] = array_slice($argv, 0, 5);
$storages = array_slice($argv, 5);
$n = (int) $n;
$value = str_repeat('v', 100);
$keys10 = array_map(static fn (int $i): string => "bench:m:$i", range(0, 9));

/** @param callable(int): void $op */
function measure(string $target, string $name, int $n, callable $op): void
{
    for ($i = 0; $i < min(1000, $n); $i++) { // warm up
        $op($i);
    }
    $lat = [];
    $start = hrtime(true);
    for ($i = 0; $i < $n; $i++) {
        $t = hrtime(true);
        $op($i);
        $lat[] = hrtime(true) - $t;
    }
    $total = (hrtime(true) - $start) / 1e9;
    sort($lat);
    $p = static fn (float $q): int => (int) round($lat[(int) floor($q * (count($lat) - 1))] / 1000);
    printf("%s %s ops_per_sec=%d p50_us=%d p99_us=%d\n", $target, $name, (int) ($n / $total), $p(0.50), $p(0.99));
}

foreach ($storages as $storage) {
    $cache = new Cache(RPC::create($rpcAddress), $storage, new RawSerializer());
    $cache->clear();
    $cache->setMultiple(array_fill_keys($keys10, $value));
    $target = "rpc-$storage";
    measure($target, 'set', $n, static fn (int $i) => $cache->set('bench:s:' . ($i % 1000), $value));
    measure($target, 'get', $n, static fn (int $i) => $cache->get('bench:s:' . ($i % 1000)));
    measure($target, 'mget10', $n, static fn (int $i) => $cache->getMultiple($keys10));
    $cache->clear();
}

[$host, $port] = explode(':', $redisAddress);
$redis = new Redis();
$redis->connect($host, (int) $port);
$redis->select((int) $redisDb);
$redis->mSet(array_fill_keys($keys10, $value));
measure('php-redis', 'set', $n, static fn (int $i) => $redis->set('bench:s:' . ($i % 1000), $value));
measure('php-redis', 'get', $n, static fn (int $i) => $redis->get('bench:s:' . ($i % 1000)));
measure('php-redis', 'mget10', $n, static fn (int $i) => $redis->mGet($keys10));
$redis->flushDB();
