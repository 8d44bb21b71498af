<?php

declare(strict_types=1);

// PHP producer for bench/jobs: pushes N small jobs to PIPELINE with
// pushBatch(100) through the SDK, prints "php_push jobs=N seconds=S".
// Usage: php push.php RPC_ADDRESS PIPELINE N

require __DIR__ . '/../../php/autoload.php';

use Coyote\Jobs\Jobs;

[, $address, $pipeline, $n] = $argv;
$n = (int) $n;
$queue = Jobs::create($address)->connect($pipeline);
$started = hrtime(true);
for ($done = 0; $done < $n; $done += 100) {
    $batch = [];
    for ($i = 0; $i < min(100, $n - $done); $i++) {
        $batch[] = $queue->create('bench', 'payload-' . ($done + $i));
    }
    $queue->pushBatch($batch);
}
printf("php_push jobs=%d seconds=%.4f\n", $n, (hrtime(true) - $started) / 1e9);
