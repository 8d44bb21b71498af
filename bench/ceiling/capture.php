<?php
// Capture worker for the HTTP ceiling (bench/ceiling/capture-http.sh): a
// standalone goridge worker (pipes, no SDK) that writes the first request
// frame it receives, byte for byte as it arrived (header, option, context,
// body), to the file named by its first argument, and answers every request
// with a plain 200 so the client sees the capture succeed.
//   usage (as a Coyote worker command): php capture.php OUT_FILE
declare(strict_types=1);

require __DIR__ . '/frames.php';

$outFile = $argv[1] ?? '';
if ($outFile === '') { fwrite(STDERR, "capture.php: usage: php capture.php OUT_FILE\n"); exit(2); }
$captured = false;
$buf = '';
while (true) {
    $next = next_frame(STDIN, $buf, 'capture.php');
    if ($next === null) { exit(0); }
    [$flags, $hl, , $frame] = $next;
    $payload = substr($frame, $hl * 4);
    if ($flags & 0x01) { // CONTROL: handshake or stop
        if (str_contains($payload, 'stop')) { exit(0); }
        fwrite(STDOUT, frame(0x01, json_encode(['pid' => getmypid()])));
        continue;
    }
    if (!$captured) {
        file_put_contents($outFile, $frame);
        $captured = true;
    }
    if ($flags & 0x80) { // the context came as protobuf: answer http.v1.Response{status: 200}
        $ctx = "\x08\xC8\x01";
        fwrite(STDOUT, frame(0x80, $ctx . "captured\n", [strlen($ctx)]));
    } else {
        $ctx = '{"status":200,"headers":{"Content-Type":["text/plain"]}}';
        fwrite(STDOUT, frame(0x08, $ctx . "captured\n", [strlen($ctx)]));
    }
}
