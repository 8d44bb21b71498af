<?php

declare(strict_types=1);

/*
 * PSR-4 autoloader for the Coyote SDK (no composer here: Packagist is out of
 * reach, so the SDK loads itself). Debian's PHP libraries (nyholm/psr7,
 * psr/http-factory, ...) ship their own autoloaders under /usr/share/php.
 */
spl_autoload_register(static function (string $class): void {
    // Ours, and Debian's php-google-protobuf runtime (it ships no autoloader).
    $roots = [
        'Coyote\\' => __DIR__ . '/src/',
        'Google\\Protobuf\\' => '/usr/share/php/Google/Protobuf/',
        'GPBMetadata\\Google\\Protobuf\\' => '/usr/share/php/GPBMetadata/Google/Protobuf/',
    ];
    foreach ($roots as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
            continue;
        }
        $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
            require $file;
        }
        return;
    }
});
