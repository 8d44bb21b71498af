<?php

declare(strict_types=1);

/*
 * The Lumen application, built the same way for both entry points:
 * worker.php (Coyote: built once, then serves many requests) and
 * public/index.php (php-fpm: built for every request). Lumen and its
 * Illuminate components come from Debian (php-laravel-lumen-framework),
 * which ships autoloaders under /usr/share/php instead of composer's.
 */

require_once 'Laravel/Lumen/autoload.php';

// The app's own classes (composer's "App\\": "app/" PSR-4 entry).
spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'App\\')) {
        $file = __DIR__ . '/../app/' . str_replace('\\', '/', substr($class, 4)) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

$app = new Laravel\Lumen\Application(dirname(__DIR__));

$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, App\Exceptions\Handler::class);

$app->router->group(['namespace' => 'App\Http\Controllers'], static function ($router): void {
    require __DIR__ . '/../routes/web.php';
});

return $app;
