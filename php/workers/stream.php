<?php

declare(strict_types=1);

// Stream: answers in N parts ("chunk-i\n"), then a closing empty part;
// STREAM_DELAY_MS between parts; stops early when the server cancels.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $n = (int) $p->body;
    $delay = (int) (getenv('STREAM_DELAY_MS') ?: 0);
    $cancelled = false;
    for ($i = 0; $i < $n; $i++) {
        if ($i > 0 && $delay > 0) {
            usleep($delay * 1000);
        }
        if (!$worker->respond(new Payload("chunk-$i\n", $i === 0 ? $p->header : '', false))) {
            fwrite(STDERR, "stream stopped at $i\n");
            $cancelled = true;
            break;
        }
    }
    if (!$cancelled) {
        $worker->respond(new Payload('', '', true));
    }
}
