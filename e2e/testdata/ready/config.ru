run ->(env) { [200, {"content-type" => "text/plain"}, ["puma pid #{Process.pid}\n"]] }
