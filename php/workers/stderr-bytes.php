<?php

declare(strict_types=1);

// Stderr-bytes: per request writes bytes that are not UTF-8 to STDERR, then
// a plain line naming the body, then echoes.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    fwrite(STDERR, "\xff\xfe\xc3 not utf-8\n");
    fwrite(STDERR, "after the bytes: {$p->body}\n");
    $worker->respond(new Payload($p->body, $p->header));
}
