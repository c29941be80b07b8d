//! k-means, and how well its clusters match the generated groups.

use crate::images::GROUPS;

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest of `centres` to `point`.
fn nearest(point: &[f32], centres: &[Vec<f32>]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (c, centre) in centres.iter().enumerate() {
        let d = distance(point, centre);
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

/// k-means: each point's cluster, from `0..k`.
///
/// Deterministic: the first centre is the first point, each next one the
/// point farthest from the centres so far; then `rounds` rounds of
/// assigning each point to its nearest centre and moving each centre to the
/// mean of its points (stopping early once nothing moves).
pub fn kmeans(points: &[Vec<f32>], k: usize, rounds: usize) -> Vec<usize> {
    if points.is_empty() {
        return Vec::new();
    }
    let mut centres = vec![points[0].clone()];
    while centres.len() < k.min(points.len()) {
        let farthest = points
            .iter()
            .map(|p| distance(p, &centres[nearest(p, &centres)]))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i);
        centres.push(points[farthest].clone());
    }
    let mut labels: Vec<usize> = points.iter().map(|p| nearest(p, &centres)).collect();
    for _ in 0..rounds {
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f32>> = points
                .iter()
                .zip(&labels)
                .filter(|&(_, &l)| l == c)
                .map(|(p, _)| p)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (d, value) in centre.iter_mut().enumerate() {
                *value = members.iter().map(|p| p[d]).sum::<f32>() / members.len() as f32;
            }
        }
        let next: Vec<usize> = points.iter().map(|p| nearest(p, &centres)).collect();
        if next == labels {
            break;
        }
        labels = next;
    }
    labels
}

/// The share of points in their cluster's majority group.
pub fn purity(labels: &[usize], groups: &[usize], k: usize) -> f64 {
    if labels.is_empty() {
        return 1.0;
    }
    let majority: usize = (0..k)
        .map(|c| {
            (0..GROUPS)
                .map(|g| {
                    labels
                        .iter()
                        .zip(groups)
                        .filter(|&(&l, &gr)| l == c && gr == g)
                        .count()
                })
                .max()
                .unwrap_or(0)
        })
        .sum();
    majority as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmeans_finds_separate_groups_and_purity_counts_them() {
        let points: Vec<Vec<f32>> = [0.0, 0.1, 5.0, 5.1, 0.05, 9.0]
            .iter()
            .map(|&x| vec![x, x])
            .collect();
        let labels = kmeans(&points, 3, 10);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[0], labels[4]);
        assert_eq!(labels[2], labels[3]);
        let distinct: std::collections::HashSet<_> = [labels[0], labels[2], labels[5]].into();
        assert_eq!(distinct.len(), 3);
        assert_eq!(purity(&labels, &[0, 0, 1, 1, 0, 2], 3), 1.0);
        assert_eq!(purity(&labels, &[0, 1, 1, 1, 0, 2], 3), 5.0 / 6.0);
    }
}
