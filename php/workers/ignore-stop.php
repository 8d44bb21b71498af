<?php

declare(strict_types=1);

// Ignore-stop: echoes, but ignores the server's stop frame and keeps
// running, so the server must kill it after destroy_timeout.

require __DIR__ . '/../autoload.php';

use Coyote\Goridge\Frame;
use Coyote\Goridge\RelayClosedException;
use Coyote\Goridge\StreamRelay;

$relay = StreamRelay::create(getenv('RR_RELAY') ?: 'pipes');
while (true) {
    try {
        $frame = $relay->receive();
    } catch (RelayClosedException) {
        sleep(3600);
        exit(0);
    }
    if ($frame->hasFlag(Frame::CONTROL)) {
        if (str_contains($frame->payload, 'pid')) {
            $relay->send(new Frame(json_encode(['pid' => getmypid()]), Frame::CONTROL));
        }
        continue; // a stop frame: ignored on purpose
    }
    $relay->send(new Frame($frame->payload, 0, $frame->options));
}
