<?php

declare(strict_types=1);

// Echo: answers with the request's own header and body.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->respond(new Payload($p->body, $p->header));
}
