<?php

declare(strict_types=1);

// Hostile: breaks the protocol in the way the body names; echoes otherwise.

require __DIR__ . '/../autoload.php';

use Coyote\Goridge\Frame;
use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

function header_bytes(int $vl, int $flags, int $len): string
{
    $head = pack('CCV', $vl, $flags, $len);
    return $head . pack('VCC', crc32($head), 0, 0);
}

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $valid = (new Frame('{}' . $p->body, 0, [2]))->encode();
    switch ($p->body) {
        case 'badcrc':
            $bad = $valid;
            $bad[7] = chr(ord($bad[7]) ^ 0xff);
            fwrite(STDOUT, $bad);
            break;
        case 'huge':
            fwrite(STDOUT, header_bytes(0x13, 0, 0xFFFFFFF0) . 'abc');
            break;
        case 'truncated':
            fwrite(STDOUT, substr($valid, 0, 6));
            exit(0);
        case 'half-sleep':
            fwrite(STDOUT, substr($valid, 0, 6));
            fflush(STDOUT);
            sleep(3600);
            break;
        case 'badversion':
            fwrite(STDOUT, header_bytes(0x23, 0, 0));
            break;
        default:
            $worker->respond(new Payload($p->body, $p->header));
    }
}
