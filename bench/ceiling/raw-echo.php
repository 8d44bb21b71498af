<?php
// Minimal standalone goridge echo worker for the ceiling driver (pipes relay).
// No SDK: frames are built/parsed with pack/unpack. Reads stdin in large chunks
// and parses frames out of a buffer, so one request costs ~1 read + 1 write.
//   handshake: reply CONTROL (0x01) {"pid":getmypid()}
//   exec:      reply flags 0, one option = header length, payload = header.body
//   stop:      CONTROL frame whose payload contains "stop" -> exit
declare(strict_types=1);

require __DIR__ . '/frames.php';

$in = STDIN;
$out = STDOUT;
$buf = '';
while (true) {
    $next = next_frame($in, $buf, 'raw-echo');
    if ($next === null) { exit(0); }
    [$flags, $hl, $plen, $frame] = $next;
    $payload = substr($frame, $hl * 4, $plen);
    $ctxLen = $hl > 3 ? unpack('V', $frame, 12)[1] : 0;

    if ($flags & 0x01) {
        if (str_contains($payload, 'stop')) { exit(0); }
        if (str_contains($payload, 'pid')) {
            fwrite($out, frame(0x01, json_encode(['pid' => getmypid()])));
        }
        continue;
    }
    // Echo: header = the request context, body = the request body.
    fwrite($out, frame(0, $payload, [$ctxLen]));
}
