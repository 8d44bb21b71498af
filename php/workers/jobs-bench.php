<?php

declare(strict_types=1);

// The benchmark's jobs consumer: the SDK's Consumer, acking every task.
// Also driven directly by the pool in the ceiling measurement (same
// context JSON, same reply), so both sides run the same PHP code.

require __DIR__ . '/../autoload.php';

use Coyote\Jobs\Consumer;

$consumer = Consumer::create();
while ($task = $consumer->waitTask()) {
    $task->ack();
}
