"""GLSL (3.30 core) of the renderer: a geometry pass and a deferred shading pass.

Geometry pass (per triangle, cheap even with heavy overdraw): integer target ``ivec2(face,
branch row)``, with ``face = gl_PrimitiveID`` for the wall seen from inside and ``-2 - id`` when
seen from outside (exact 32-bit ids, no packing limit), a float target (interpolated shading
normal in the camera frame, branch arclength), and the depth buffer. Ground-truth depth and
normals are computed exactly from the ids outside GL; this pass only feeds the shading.

Shading pass (once per pixel, a full-screen triangle): point LEDs at the tip with a smooth spot
cone, inverse-square falloff and Lambert + normalized Blinn-Phong (Schlick Fresnel) for wet
mucosa, all in the OpenCV camera frame (metres). Albedo and bump height come from a tiling 3D
noise texture indexed by world position (no UVs), cartilage rings from the branch arclength;
bumps perturb the normal through screen-space derivatives of the height (Mikkelsen 2010, no
tangents). Shading once per pixel matters on llvmpipe, where an airway view shades each pixel
several times over in a forward pass.
"""

VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;     // world position minus the mesh origin (m)
layout(location = 1) in vec3 a_normal;  // world unit shading normal, pointing into the lumen
layout(location = 2) in vec2 a_tree;    // arclength along the branch (m), branch row
uniform mat4 u_cam_world;               // OpenCV camera <- world (origin folded in)
uniform mat4 u_proj;                    // OpenCV camera -> clip (camera.gl_projection)
out vec3 v_ncam;
out float v_s;
flat out int v_row;
void main() {
    vec4 pc = u_cam_world * vec4(a_pos, 1.0);
    v_ncam = mat3(u_cam_world) * a_normal;
    v_s = a_tree.x;
    v_row = int(a_tree.y + 0.5);
    gl_Position = u_proj * pc;
}
"""

FRAGMENT = """
#version 330 core
in vec3 v_ncam;
in float v_s;
flat in int v_row;
layout(location = 0) out ivec2 o_id;
layout(location = 1) out vec4 o_nrm;
void main() {
    o_id = ivec2(gl_FrontFacing ? gl_PrimitiveID : -2 - gl_PrimitiveID, v_row);
    o_nrm = vec4(normalize(v_ncam), v_s);
}
"""

SHADE_VERTEX = """
#version 330 core
void main() {  // one triangle covering the viewport
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

SHADE_FRAGMENT = """
#version 330 core
uniform isampler2D u_id;
uniform sampler2D u_nrm;
uniform sampler2D u_depth;        // window depth of the geometry pass
uniform sampler2D u_branches;     // per branch row: ring flag (+2 root), radius, length (m)
uniform sampler3D u_tex;          // r: mottling, g: vessels, b: capillaries, a: bump height
uniform mat4 u_world_cam;         // world (minus origin) <- OpenCV camera
uniform vec4 u_intr;              // fx, fy, cx, cy of the rendered pinhole image
uniform vec2 u_clip;              // near, far (m)
uniform int u_n_lights;
uniform vec3 u_light_pos[4];      // camera frame (m); each light points along +z
uniform vec3 u_light_color;       // intensity folded in (irradiance at 1 m)
uniform float u_cos_inner;
uniform float u_cos_outer;
uniform float u_ambient;
uniform vec3 u_base;
uniform float u_var;
uniform float u_color_freq;
uniform float u_vessel_freq;
uniform float u_vessel_width;
uniform float u_vessel_contrast;
uniform float u_ring_freq;        // 2 pi / pitch (rad/m)
uniform float u_ring_contrast;
uniform float u_ring_height;      // m
uniform vec3 u_ring_color;
uniform float u_bump_height;      // m
uniform float u_bump_freq;
uniform float u_shininess;
uniform float u_f0;
layout(location = 0) out vec4 o_color;
const float PI = 3.14159265;
void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);
    ivec2 id = texelFetch(u_id, px, 0).xy;
    if (id.x == -1) { o_color = vec4(0.0); return; }
    vec4 nt = texelFetch(u_nrm, px, 0);
    float zw = texelFetch(u_depth, px, 0).r * 2.0 - 1.0;
    float n_ = u_clip.x, f_ = u_clip.y;
    float z = 2.0 * f_ * n_ / ((f_ + n_) - zw * (f_ - n_));
    // pixel (u, v) = gl_FragCoord - 0.5 (rows are image rows: see camera.gl_projection)
    vec3 p = z * vec3((gl_FragCoord.x - 0.5 - u_intr.z) / u_intr.x,
                      (gl_FragCoord.y - 0.5 - u_intr.w) / u_intr.y, 1.0);
    vec3 view = normalize(-p);
    vec3 n = normalize(nt.xyz);
    if (dot(n, view) < 0.0) n = -n;
    vec3 pw = (u_world_cam * vec4(p, 1.0)).xyz;
    float s = nt.w;
    vec3 br = texelFetch(u_branches, ivec2(id.y, 0), 0).xyz;

    vec4 tc = texture(u_tex, pw * u_color_freq);
    vec4 tv = texture(u_tex, pw * u_vessel_freq);
    float hb = texture(u_tex, pw * u_bump_freq).a;
    vec3 albedo = u_base * (1.0 + u_var * (tc.r - 0.5) * vec3(0.6, 1.4, 1.2));
    float vessel = max(smoothstep(1.0 - u_vessel_width, 1.0, tv.g),
                       0.6 * smoothstep(1.0 - 0.7 * u_vessel_width, 1.0, tv.b));
    albedo *= 1.0 - u_vessel_contrast * vessel * vec3(0.25, 0.75, 0.65);
    float fade_in = br.x > 1.5 ? 1.0 : clamp(s / br.y - 0.5, 0.0, 1.0);
    float w = mod(br.x, 2.0) * fade_in * clamp((br.z - s) / br.y - 1.0, 0.0, 1.0);
    float c = 0.5 + 0.5 * cos(s * u_ring_freq);
    float ring = w * c * c * c * c;
    albedo = mix(albedo, u_ring_color, u_ring_contrast * ring);

    float h = u_bump_height * hb + u_ring_height * ring;
    vec3 dpx = dFdx(p), dpy = dFdy(p);
    vec3 r1 = cross(dpy, n), r2 = cross(n, dpx);
    float det = dot(dpx, r1);
    vec3 grad = sign(det) * (dFdx(h) * r1 + dFdy(h) * r2);
    vec3 ns = normalize(abs(det) * n - grad);
    if (!(dot(ns, view) > 0.05) || abs(dFdx(z)) + abs(dFdy(z)) > 0.2 * z) ns = n;

    vec3 rad = vec3(0.0);
    for (int i = 0; i < u_n_lights; ++i) {
        vec3 l = u_light_pos[i] - p;
        float d2 = dot(l, l);
        l *= inversesqrt(d2);
        float spot = smoothstep(u_cos_outer, u_cos_inner, -l.z);
        float ndl = max(dot(ns, l), 0.0);
        vec3 hv = normalize(l + view);
        float ndh = max(dot(ns, hv), 0.0);
        float F = u_f0 + (1.0 - u_f0) * pow(1.0 - max(dot(hv, view), 0.0), 5.0);
        float spec = F * (u_shininess + 8.0) / (8.0 * PI) * pow(ndh, u_shininess);
        rad += (spot * ndl / d2) * (albedo / PI + vec3(spec));
    }
    rad = rad * u_light_color + u_ambient * albedo / PI;
    o_color = vec4(rad, id.x < -1 ? 1.0 : 0.0);
}
"""

DEPTH_FRAGMENT = """
#version 330 core
void main() {}
"""

DEPTH_VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;
uniform mat4 u_cam_world;
uniform mat4 u_proj;
void main() { gl_Position = u_proj * (u_cam_world * vec4(a_pos, 1.0)); }
"""
