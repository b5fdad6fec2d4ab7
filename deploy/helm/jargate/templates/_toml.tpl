{{/*
TOML from a map, for jargate.toml. Helm's own toToml writes every number as a float (5.0,
1e+06), which jargate's integer keys refuse, so the chart writes it: whole numbers as integers,
strings as JSON strings (valid TOML basic strings), lists inline, maps as [tables] after the
scalar keys of their parent. Keys are sorted; a null value is left out (so that a value file can
unset a default with ~).
*/}}
{{- define "jargate.toml.value" -}}
{{- $v := . -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- $v -}}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) -}}
{{- if eq (float64 $v) (floor $v) -}}{{- int64 $v -}}{{- else -}}{{- $v -}}{{- end -}}
{{- else if kindIs "slice" $v -}}
[{{- range $i, $e := $v -}}{{- if $i -}}, {{ end -}}{{- include "jargate.toml.value" $e -}}{{- end -}}]
{{- else -}}
{{- fail (printf "config: %v cannot be written as a TOML value" $v) -}}
{{- end -}}
{{- end }}

{{- define "jargate.toml.table" -}}
{{- $table := .table -}}
{{- $path := .path -}}
{{- range $key := keys $table | sortAlpha -}}
{{- if not (regexMatch "^[A-Za-z0-9_-]+$" $key) -}}
{{- fail (printf "config: %q is not a key jargate.toml can have" $key) -}}
{{- end -}}
{{- $value := get $table $key -}}
{{- if and (not (kindIs "map" $value)) (not (kindIs "invalid" $value)) }}
{{ $key }} = {{ include "jargate.toml.value" $value }}
{{- end -}}
{{- end -}}
{{- range $key := keys $table | sortAlpha -}}
{{- $value := get $table $key -}}
{{- if kindIs "map" $value -}}
{{- $name := $key -}}
{{- if $path -}}{{- $name = printf "%s.%s" $path $key -}}{{- end }}

[{{ $name }}]
{{- include "jargate.toml.table" (dict "table" $value "path" $name) -}}
{{- end -}}
{{- end -}}
{{- end }}
