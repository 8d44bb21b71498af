<?php

declare(strict_types=1);

// Garbage: writes raw bytes to STDOUT (bypassing the SDK) on "garbage".

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    if ($p->body === 'garbage') {
        fwrite(STDOUT, "hello from a stray echo\n");
        continue;
    }
    $worker->respond(new Payload($p->body, $p->header));
}
