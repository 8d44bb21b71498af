<?php

declare(strict_types=1);

// Increments a Redis counter N times, each read-modify-write under the
// exclusive lock `counter` taken through the SDK's lock client (driven by
// tests/lock.rs: several of these against two servers sharing a Redis lock
// table). Usage: lock-counter.php RPC_ADDRESS REDIS_HOST:PORT KEY N

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\Lock\Lock;

[, $rpc, $redisAddr, $key, $n] = $argv;
[$host, $port] = explode(':', $redisAddr);
$lock = Lock::create($rpc);
$redis = new \Redis();
$redis->connect($host, (int) $port);
$resource = "counter-$key";
for ($i = 0; $i < (int) $n; $i++) {
    $id = false;
    while ($id === false) {
        $id = $lock->lock($resource, null, 10, 5);
    }
    $value = (int) $redis->get($key);
    $redis->set($key, (string) ($value + 1));
    if (!$lock->release($resource, $id)) {
        fwrite(STDERR, "release of $id failed\n");
        exit(1);
    }
}
