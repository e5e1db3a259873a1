"""GLSL (3.30 core) of the renderer: a geometry pass and a deferred shading pass.

Geometry pass (per triangle, as cheap as a depth-only pass even with heavy overdraw): one
integer target, ``face = u_first + gl_PrimitiveID`` (the draw's first face plus the primitive's
place in it: the culled geometry pass draws runs of faces) for the wall seen from inside and
``-2 - face`` when seen from outside (exact 32-bit ids, no packing limit), and the depth buffer.

Shading (once per output pixel, a full-screen triangle; ``SHADE_COMMON.shade``): ground-truth
depth and normal from the pixel's ray and its triangle's plane; the shading normal and branch
arclength interpolated at that point from the triangle's vertices (buffer textures); then
point LEDs at the tip with a smooth spot cone, inverse-square falloff and Lambert +
normalized Blinn-Phong (Schlick Fresnel) for wet mucosa, all in the OpenCV camera frame
(metres). Albedo and bump height come from a tiling 3D noise texture indexed by world position
(no UVs), cartilage rings from the branch arclength; bumps perturb the normal through
screen-space derivatives of the height (Mikkelsen 2010, no tangents). Shading once per pixel
matters on llvmpipe, where an airway view covers each pixel several times over in a forward
pass. ``N_LIGHTS`` is a compile-time constant (room.render.raster.Raster.shade_program). No
branch guards a costly term: llvmpipe runs a divergent branch masked on every lane, so skipping
the specular lobe where it is negligible counted 19 % more instructions, not fewer (valgrind).

Pinhole cameras shade in SHADE_FRAGMENT at each pixel of the geometry pass. With lens
distortion the geometry pass renders a covering pinhole image and LENS_FRAGMENT gives each
distorted pixel its own ray, finds its triangle among the nearby ones of that image and
shades it there.
"""

VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;     // world position minus the mesh origin (m)
uniform mat4 u_cam_world;               // OpenCV camera <- world (origin folded in)
uniform mat4 u_proj;                    // OpenCV camera -> clip (camera.gl_projection)
void main() { gl_Position = u_proj * (u_cam_world * vec4(a_pos, 1.0)); }
"""

FRAGMENT = """
#version 330 core
uniform int u_first;  // first face of this draw: gl_PrimitiveID restarts at 0 in every draw
layout(location = 0) out int o_id;
void main() {
    int id = u_first + gl_PrimitiveID;
    o_id = gl_FrontFacing ? id : -2 - id;
}
"""

SHADE_VERTEX = """
#version 330 core
void main() {  // one triangle covering the viewport
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

SHADE_COMMON = """
uniform isamplerBuffer u_faces;   // per face: its 3 (shading) vertex indices, branch row
uniform samplerBuffer u_verts;    // per vertex: position (world minus origin), arclength s
uniform samplerBuffer u_vnormals; // per vertex: world shading normal
uniform sampler2D u_branches;     // per branch row: ring flag (+2 root), radius, length (m)
uniform samplerBuffer u_planes;   // per face: world unit normal, n . (v0 - origin) (m)
uniform mat4 u_cam_world;         // OpenCV camera <- world (minus origin)
uniform vec3 u_cam_pos;           // camera centre, world minus origin (m)
uniform sampler3D u_tex;          // r: mottling, g: vessels, b: capillaries, a: bump height
uniform mat4 u_world_cam;         // world (minus origin) <- OpenCV camera
uniform vec3 u_light_pos[4];      // camera frame (m); each light points along +z
uniform vec3 u_light_color;       // intensity folded in (irradiance at 1 m)
uniform float u_cos_inner;
uniform float u_cos_outer;
uniform float u_ambient;
uniform vec3 u_base;
uniform float u_var;
uniform vec3 u_var_dir;        // albedo change per unit mottling (R, G, B)
uniform float u_tex_freq;         // 1 / tile size (1/m)
uniform float u_vessel_width;
uniform float u_vessel_contrast;
uniform float u_ring_freq;        // 2 pi / pitch (rad/m)
uniform float u_ring_contrast;
uniform float u_ring_height;      // m
uniform vec3 u_ring_color;
uniform float u_bump_height;      // m
uniform float u_bump_scale;       // m
uniform float u_shininess;
uniform float u_f0;
const float PI = 3.14159265;
// Radiance (rgb; a = 1 for the wall seen from outside) of the pixel whose camera ray (z = 1)
// meets triangle `raw` (raw id: f, or -2 - f seen from outside), and its ground truth `geom`:
// the ray against the triangle's plane. Camera-relative float32: ~1e-7 relative /
// cos(incidence), no interpolation over (possibly long) triangles.
vec4 shade(int raw, vec3 ray, out vec4 geom) {
    int f = raw < -1 ? -2 - raw : raw;
    vec4 pl = texelFetch(u_planes, f);
    vec3 nf = mat3(u_cam_world) * pl.xyz;
    float nd = dot(nf, ray);
    float z = nd != 0.0 ? max((pl.w - dot(pl.xyz, u_cam_pos)) / nd, 0.0) : 0.0;
    geom = vec4(nd > 0.0 ? -nf : nf, z);
    vec3 p = z * ray;
    vec3 view = normalize(-p);
    vec3 pw = (u_world_cam * vec4(p, 1.0)).xyz;
    // shading normal and arclength: barycentric interpolation at the hit point
    ivec4 fv = texelFetch(u_faces, f);
    vec4 va = texelFetch(u_verts, fv.x), vb = texelFetch(u_verts, fv.y);
    vec4 vc = texelFetch(u_verts, fv.z);
    vec3 e0 = vb.xyz - va.xyz, e1 = vc.xyz - va.xyz, e2 = pw - va.xyz;
    float d00 = dot(e0, e0), d01 = dot(e0, e1), d11 = dot(e1, e1);
    float d20 = dot(e2, e0), d21 = dot(e2, e1);
    float den = d00 * d11 - d01 * d01;
    float wb = den != 0.0 ? (d11 * d20 - d01 * d21) / den : 0.0;
    float wc = den != 0.0 ? (d00 * d21 - d01 * d20) / den : 0.0;
    float wa = 1.0 - wb - wc;
    vec3 nw = wa * texelFetch(u_vnormals, fv.x).xyz + wb * texelFetch(u_vnormals, fv.y).xyz
              + wc * texelFetch(u_vnormals, fv.z).xyz;
    vec3 n = normalize(mat3(u_cam_world) * nw);
    if (dot(n, view) < 0.0) n = -n;
    float s = wa * va.w + wb * vb.w + wc * vc.w;
    vec3 br = texelFetch(u_branches, ivec2(fv.w, 0), 0).xyz;

    vec4 tx = texture(u_tex, pw * u_tex_freq);  // one trilinear lookup: all bands baked in
    float hb = tx.a;
    vec3 albedo = u_base * max(1.0 + u_var * (tx.r - 0.5) * u_var_dir, 0.05);
    float vessel = max(smoothstep(1.0 - u_vessel_width, 1.0, tx.g),
                       0.6 * smoothstep(1.0 - 0.7 * u_vessel_width, 1.0, tx.b));
    albedo *= 1.0 - u_vessel_contrast * vessel * vec3(0.25, 0.75, 0.65);
    float fade_in = br.x > 1.5 ? 1.0 : clamp(s / br.y - 0.5, 0.0, 1.0);
    float w = mod(br.x, 2.0) * fade_in * clamp((br.z - s) / br.y - 1.0, 0.0, 1.0);
    // rings fade where a pixel spans more than ~1/3 of a pitch (no aliasing down the lumen)
    vec3 dpx = dFdx(p), dpy = dFdy(p);
    float footprint = (length(dpx) + length(dpy)) * u_ring_freq / 6.2831853;
    float c = 0.5 + 0.5 * cos(s * u_ring_freq);
    float ring = w * c * c * c * c * clamp(3.0 - 6.0 * footprint, 0.0, 1.0);
    albedo = mix(albedo, u_ring_color, u_ring_contrast * ring);

    // bumps fade too where a pixel spans more than ~1/3 of their scale (no shading noise)
    float fp_bump = (length(dpx) + length(dpy)) / u_bump_scale;
    float h = (u_bump_height * hb + u_ring_height * ring) * clamp(3.0 - 6.0 * fp_bump, 0.0, 1.0);
    vec3 r1 = cross(dpy, n), r2 = cross(n, dpx);
    float det = dot(dpx, r1);
    vec3 grad = sign(det) * (dFdx(h) * r1 + dFdy(h) * r2);
    vec3 ns = normalize(abs(det) * n - grad);
    if (!(dot(ns, view) > 0.05) || abs(dFdx(z)) + abs(dFdy(z)) > 0.2 * z) ns = n;

    vec3 rad = vec3(0.0);
    for (int i = 0; i < N_LIGHTS; ++i) {  // N_LIGHTS: #define'd by Raster.shade_program
        vec3 l = u_light_pos[i] - p;
        float d2 = dot(l, l);
        l *= inversesqrt(d2);
        float spot = smoothstep(u_cos_outer, u_cos_inner, -l.z);
        float ndl = max(dot(ns, l), 0.0);
        vec3 hv = normalize(l + view);
        float ndh = max(dot(ns, hv), 0.0);
        float f1 = 1.0 - max(dot(hv, view), 0.0), f2 = f1 * f1;
        float F = u_f0 + (1.0 - u_f0) * (f2 * f2 * f1);  // Schlick: (1 - h.v)^5
        float spec = F * (u_shininess + 8.0) / (8.0 * PI) * pow(ndh, u_shininess);
        rad += (spot * ndl / d2) * (albedo / PI + vec3(spec));
    }
    rad = rad * u_light_color + u_ambient * albedo / PI;
    return vec4(rad, raw < -1 ? 1.0 : 0.0);
}
"""

SHADE_FRAGMENT = """
uniform isampler2D u_id;
uniform vec4 u_intr;              // fx, fy, cx, cy of the rendered pinhole image
layout(location = 0) out vec4 o_color;
layout(location = 1) out vec4 o_geom;  // triangle normal (camera, facing it), z-depth (m)
layout(location = 2) out float o_depth;  // the z-depth again: one contiguous read each
void main() {
    int raw = texelFetch(u_id, ivec2(gl_FragCoord.xy), 0).x;
    o_depth = 0.0;
    if (raw == -1) { o_color = vec4(0.0); o_geom = vec4(0.0); return; }
    // the pixel's own ray: pixel (u, v) = gl_FragCoord - 0.5, rows are image rows (see
    // camera.gl_projection)
    vec3 ray = vec3((gl_FragCoord.x - 0.5 - u_intr.z) / u_intr.x,
                    (gl_FragCoord.y - 0.5 - u_intr.w) / u_intr.y, 1.0);
    o_color = shade(raw, ray, o_geom);
    o_depth = o_geom.w;
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

LENS_FRAGMENT = """
uniform isampler2D u_id;          // ids of the covering pinhole render
uniform sampler2D u_rays;         // per distorted pixel: undistorted ray (x, y), z = 1
uniform vec4 u_intr;              // fx, fy, cx, cy of the covering pinhole render
uniform vec2 u_wide;              // its width, height
layout(location = 0) out vec4 o_color;
layout(location = 1) out ivec2 o_id;  // raw id (as the geometry pass), 1 = ask Embree
layout(location = 2) out vec4 o_geom;
layout(location = 3) out float o_depth;  // o_geom.w again: one contiguous read each

// Moller-Trumbore in the world frame (minus origin): origin u_cam_pos, direction dw = the
// camera ray (z = 1) rotated into the world, so the ray parameter t is still the z-depth. No
// per-vertex rotations: 3 fetches and 2 cross products per test.
float hit(int f, vec3 dw, out bool inside) {
    ivec4 fv = texelFetch(u_faces, f);
    vec3 va = texelFetch(u_verts, fv.x).xyz;
    vec3 e1 = texelFetch(u_verts, fv.y).xyz - va;
    vec3 e2 = texelFetch(u_verts, fv.z).xyz - va;
    vec3 a = va - u_cam_pos;
    vec3 pv = cross(dw, e2);
    float det = dot(e1, pv);
    if (det == 0.0) { inside = false; return 0.0; }
    float inv = 1.0 / det;
    float u = -dot(a, pv) * inv;
    vec3 qv = cross(-a, e1);
    float v = dot(dw, qv) * inv;
    float t = dot(e2, qv) * inv;
    inside = u >= -1e-5 && v >= -1e-5 && u + v <= 1.0 + 1e-5 && t > 0.0;
    return t;
}

// Each distorted pixel's own ray finds its triangle among those at the nearest and the 2 x 2
// surrounding pixels of the covering render (nearest hit), and is shaded there: colour and
// ground truth once per output pixel, for its exact ray. A ray that hits none of them is
// flagged for Embree (ground truth fixed on the CPU); its colour comes from the plane of the
// nearest pixel's triangle.
void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);
    vec3 ray = vec3(texelFetch(u_rays, px, 0).xy, 1.0);
    vec3 dw = ray * mat3(u_cam_world);  // = transpose(R) * ray: the ray in the world frame
    vec2 q = ray.xy * u_intr.xy + u_intr.zw;  // position in the covering render (px)
    ivec2 hi = ivec2(u_wide) - 1;
    int braw = -1;
    float bz = 1e30;
    bool ins;
    int near_raw = texelFetch(u_id, clamp(ivec2(floor(q + 0.5)), ivec2(0), hi), 0).x;
    int any_raw = near_raw;
    if (near_raw != -1) {  // the triangle at the nearest pixel, if this ray hits it
        float t = hit(near_raw < -1 ? -2 - near_raw : near_raw, dw, ins);
        if (ins) { braw = near_raw; bz = t; }
    }
    if (braw == -1) {  // else the nearest hit among the 2 x 2 surrounding pixels' triangles
        ivec2 q0 = ivec2(floor(q));
        for (int k = 0; k < 4; ++k) {
            int raw = texelFetch(u_id, clamp(q0 + ivec2(k & 1, k >> 1), ivec2(0), hi), 0).x;
            if (raw == -1) continue;
            any_raw = any_raw == -1 ? raw : any_raw;
            float t = hit(raw < -1 ? -2 - raw : raw, dw, ins);
            if (ins && t < bz) { braw = raw; bz = t; }
        }
    }
    o_id = ivec2(braw, braw == -1 && any_raw != -1 ? 1 : 0);
    o_depth = 0.0;
    if (any_raw == -1) { o_color = vec4(0.0); o_geom = vec4(0.0); return; }
    o_color = shade(braw != -1 ? braw : any_raw, ray, o_geom);
    if (braw == -1) o_geom = vec4(0.0);
    o_depth = o_geom.w;
}
"""
